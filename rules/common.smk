# Config validation, object discovery and input functions shared by every stage.

import sys
from pathlib import Path

from snakemake.utils import validate

from neusdf.config import CONFIG_SCHEMA, coerce_types, load_schema, workflow_config
from neusdf.pipeline.code import code_fingerprint
from neusdf.pipeline.compute import COMPUTE_KEYS, Compute
from neusdf.pipeline.discovery import discover_objects
from neusdf.pipeline.jobs import find_failure_records
from neusdf.threads import sleeping_idle_threads

# Inherited by every job this Snakemake starts (and re-set where a cluster job re-reads this file).
sleeping_idle_threads()

# Nested --config values arrive as strings ('2'): give them their schema types first.
config.update(coerce_types(config, load_schema(CONFIG_SCHEMA)))
validate(config, "../src/neusdf/schemas/config.schema.yaml")
# Defaults of nested sections and of every named model, from the schemas (the one source).
config.update(workflow_config(config))

OBJECTS = discover_objects(config["raw_dir"])
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


def failure_records(wildcards=None):
    """Failure records (written by failed jobs) of the current objects and models."""
    return find_failure_records(OBJECTS, MODELS)


def existing_metrics():
    """Metrics files of the current objects and models that exist now."""
    return [path for path in all_metrics(None) if Path(path).is_file()]


def write_summary_after_failures():
    """Write results/summary.{csv,md} from what finished plus the failure records."""
    from neusdf.evaluation.summary import write_summary

    failures = failure_records()
    if not failures:
        return
    write_summary(
        existing_metrics(),
        "results/summary.csv",
        "results/summary.md",
        failure_paths=failures,
        models=MODELS,
    )
    print(
        f"neusdf: {len(failures)} failed job(s) listed in results/summary.csv",
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
