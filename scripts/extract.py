"""Snakemake entry point of rule extract (logic: neusdf.pipeline.extract)."""

from neusdf.pipeline.compute import Compute
from neusdf.pipeline.extract import extract_object
from neusdf.pipeline.jobs import rule_job
from neusdf.threads import set_threads

set_threads(snakemake.threads, torch_too=False)  # torch, if ever needed, in load_field
with rule_job(snakemake, "extract"):
    extract_object(
        checkpoint_path=snakemake.input.checkpoint,
        mesh_out=snakemake.output.mesh,
        cfg=dict(snakemake.params.extract),
        compute=Compute.of_job(snakemake.config, "extract", snakemake.threads),
    )
