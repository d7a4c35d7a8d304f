# Config validation, object discovery and input functions shared by every stage.

import sys
from pathlib import Path

from snakemake.utils import validate

from neusdf.config import CONFIG_SCHEMA, coerce_types, load_schema, workflow_config
from neusdf.pipeline.code import code_fingerprint
from neusdf.pipeline.compute import COMPUTE_KEYS, Compute
from neusdf.pipeline.discovery import DiscoveryError, discover_objects
from neusdf.pipeline.jobs import find_failure_records, unfinished_jobs
from neusdf.threads import sleeping_idle_threads

# Inherited by every job this Snakemake starts (and re-set where a cluster job re-reads this file).
sleeping_idle_threads()

# Nested --config values arrive as strings ('2'): give them their schema types first.
config.update(coerce_types(config, load_schema(CONFIG_SCHEMA)))
validate(config, "../src/neusdf/schemas/config.schema.yaml")
# Defaults of nested sections and of every named model, from the schemas (the one source).
config.update(workflow_config(config))

OBJECTS = discover_objects(
    config["raw_dir"], config["include"], config["exclude"], manifest=config["objects"]
)
if not OBJECTS:
    raise DiscoveryError(
        f"{config['objects'] or config['raw_dir']}: no mesh files"
        + (" match include/exclude" if config["include"] or config["exclude"] else "")
    )
MODELS = list(config["run_models"])

for _model in MODELS:
    if _model not in config["models"]:
        raise ValueError(
            f"config: run_models names {_model!r}, which is not defined under 'models'"
        )

# Threads and GPUs of each stage's jobs (`compute` with the stage's overrides). Placement is kept
# out of every `params` section (the scripts read backend and device from the config when the
# job starts), so changing where jobs run never replans finished ones.
COMPUTE = {
    stage: Compute.for_stage(config, stage)
    for stage in ("sample", "train", "extract", "evaluate", "plot", "render")
}

# What a stage computes, without where (the placement keys a stage section may carry).
SETTINGS = {
    stage: {k: v for k, v in config[stage].items() if k not in COMPUTE_KEYS}
    for stage in ("sample", "extract", "evaluate", "plot", "render")
}

# What code each rule runs (a hash of the package modules its stage imports, docstrings and
# comments excluded): editing that code reruns the rule and what depends on it.
CODE = {
    rule_name: code_fingerprint(module)
    for rule_name, module in {
        "normalize": "neusdf.pipeline.normalize",
        "sample": "neusdf.pipeline.sample",
        "train": "neusdf.pipeline.train",
        "extract": "neusdf.pipeline.extract",
        "evaluate": "neusdf.pipeline.evaluate",
        "plot": "neusdf.pipeline.plot",
        "render": "neusdf.pipeline.render",
        "gallery": "neusdf.pipeline.render",
        "aggregate": "neusdf.evaluation.summary",
        "compare_models": "neusdf.evaluation.comparison",
    }.items()
}


# One object's per-object jobs (normalize, sample, and per model train, extract, plot_slices,
# evaluate, render) form one connected group; a cluster executor submits each group (or, with
# --group-components object=N, N of them) as a single job. Local runs ignore groups.
OBJECT_GROUP = "object"


wildcard_constraints:
    obj="[^/]+",
    model="[A-Za-z0-9_-]+",


def raw_mesh(wildcards):
    """The input mesh file of one object."""
    return OBJECTS[wildcards.obj]


def model_config(wildcards):
    """The named model configuration of one {model}."""
    return config["models"][wildcards.model]


def all_metrics(wildcards):
    """Every (model, object) metrics file the summary is built from."""
    return expand(
        "results/metrics/{model}/{obj}.json", model=MODELS, obj=sorted(OBJECTS)
    )


def all_plots(wildcards):
    """Every (model, object) slice figure."""
    return expand("results/plots/{model}/{obj}.png", model=MODELS, obj=sorted(OBJECTS))


def all_renders(wildcards):
    """Every (model, object) picture."""
    return expand(
        "results/renders/{model}/{obj}.png", model=MODELS, obj=sorted(OBJECTS)
    )


def existing_plots(wildcards):
    """Every (model, object) slice figure, flagged ancient: needed, but never newer."""
    return [ancient(path) for path in all_plots(wildcards)]


def failure_records(wildcards=None):
    """Failure records (written by failed jobs) of the current objects and models."""
    return find_failure_records(OBJECTS, MODELS)


def existing_metrics():
    """Metrics files of the current objects and models that exist now."""
    return [path for path in all_metrics(None) if Path(path).is_file()]


def unfinished(failures):
    """(model, object, stage) of the pairs with neither metrics nor a failure record."""
    chain = [
        ("normalize", rules.normalize.output.meta),
        ("sample", rules.sample.output.samples),
        ("train", rules.train.output.checkpoint),
        ("extract", rules.extract.output.meta),
        ("evaluate", rules.evaluate.output.metrics),
    ]
    return unfinished_jobs(OBJECTS, MODELS, failures, chain)


def write_summary_after_failures():
    """Write results/summary.{csv,md} from what finished, the failure records, and the pairs
    that did not finish without a record; and the collection figure and worst objects from it
    (with failures the aggregate job cannot run, as some of its inputs are missing)."""
    from neusdf.evaluation.summary import write_summary
    from neusdf.pipeline.plot import plot_collection_file

    failures = failure_records()
    missing = unfinished(failures)
    if not failures and not missing:
        return
    # This summary is provisional: without the aggregate's mark, the next run plans the
    # aggregate again, and with it every job whose output it lacks.
    Path(rules.aggregate.output.complete).unlink(missing_ok=True)
    write_summary(
        existing_metrics(),
        rules.aggregate.output.csv,
        rules.aggregate.output.md,
        failure_paths=failures,
        models=MODELS,
        unfinished=missing,
    )
    plot_collection_file(
        rules.aggregate.output.csv,
        rules.plot_collection.output.png,
        rules.plot_collection.output.worst,
    )
    print(
        f"neusdf: {len(failures)} failed job(s) and {len(missing)} unfinished "
        "(model, object) pair(s) listed in results/summary.csv",
        file=sys.stderr,
    )


def announce_outcome():
    """After a run: per-model means, failures by reason, where the summary and report are."""
    from neusdf.evaluation.summary import outcome_lines

    if Path("results/summary.csv").is_file():
        print("\n".join(outcome_lines("results/summary.csv")), file=sys.stderr)


def write_gallery_after_failures():
    """Write results/gallery.html from the summary written after failures and the pictures
    that exist, so that the failed objects are listed with their reason."""
    from neusdf.pipeline.render import write_gallery

    if failure_records() and Path("results/summary.csv").is_file():
        write_gallery(
            "results/summary.csv",
            "results/renders/{model}/{obj}.png",
            "results/gallery.html",
        )


def one_pending_wakeup():
    """Keep at most one of Snakemake's timed scheduler wake-ups pending.

    Snakemake (9.x) arms a wake-up one timespan of ``--max-jobs-per-timespan`` (default 1 s)
    ahead after every scheduling pass, pending or not, and each wake-up is a pass that arms the
    next: every finished job starts one more chain, so after n jobs the controller makes n passes
    a second, each over every ready job, for the rest of the run (its CPU time grew faster than
    the collection). Replacing its re-arm by one that skips while a wake-up is pending keeps the
    rate limit working with one chain. Called by ``onstart``; a Snakemake without that method is
    left alone.
    """
    import threading

    scheduler = getattr(workflow, "scheduler", None)
    if scheduler is None or not hasattr(scheduler, "_schedule_reevalutation"):
        return
    lock = threading.Lock()
    pending = [False]

    def wake():
        with lock:
            pending[0] = False
        scheduler._open_jobs.release()

    def wake_once_after(delay):
        with lock:
            if pending[0]:
                return
            pending[0] = True
        timer = threading.Timer(delay, wake)
        timer.daemon = True  # never holds up the end of a run
        timer.start()

    scheduler._schedule_reevalutation = wake_once_after
