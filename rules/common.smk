# Config validation, object discovery and input functions shared by every stage.

from pathlib import Path

from snakemake.utils import validate

from neusdf.discovery import discover_objects


validate(config, "../schemas/config.schema.yaml")

OBJECTS = discover_objects(config["raw_dir"])
MODELS = list(config["run_models"])

for _model in MODELS:
    if _model not in config["models"]:
        raise ValueError(
            f"config: run_models names {_model!r}, which is not defined under 'models'"
        )


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
