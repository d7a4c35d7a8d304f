# Config validation, object discovery and input functions shared by every stage.

import sys
from pathlib import Path

from snakemake.utils import validate

from neusdf.pipeline.discovery import discover_objects
from neusdf.pipeline.jobs import find_failure_records


validate(config, "../schemas/config.schema.yaml")

OBJECTS = discover_objects(config["raw_dir"])
MODELS = list(config["run_models"])

for _model in MODELS:
    if _model not in config["models"]:
        raise ValueError(
            f"config: run_models names {_model!r}, which is not defined under 'models'"
        )
for _model in config["models"].values():
    validate(_model, "../schemas/model.schema.yaml")


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
    return expand("results/metrics/{model}/{obj}.json", model=MODELS, obj=sorted(OBJECTS))


def all_plots(wildcards):
    """Every (model, object) slice figure."""
    return expand("results/plots/{model}/{obj}.png", model=MODELS, obj=sorted(OBJECTS))


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
    print(f"neusdf: {len(failures)} failed job(s) listed in results/summary.csv", file=sys.stderr)
