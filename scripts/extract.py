"""Snakemake entry point of rule extract (logic: neusdf.pipeline.extract)."""

from neusdf.pipeline.compute import Compute
from neusdf.pipeline.extract import extract_object
from neusdf.pipeline.jobs import job
from neusdf.threads import set_threads

set_threads(snakemake.threads, torch_too=False)  # torch, if ever needed, in load_field
obj, model = snakemake.wildcards.obj, snakemake.wildcards.model
limit = snakemake.config["time_limit_minutes"]
with job(
    snakemake.log[0], snakemake.params.failure, limit, stage="extract", object=obj, model=model
):
    extract_object(
        checkpoint_path=snakemake.input.checkpoint,
        mesh_out=snakemake.output.mesh,
        cfg=dict(snakemake.params.extract),
        compute=Compute.of_job(snakemake.config, "extract", snakemake.threads),
    )
