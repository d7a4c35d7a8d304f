"""Snakemake entry point of rule sample (logic: neusdf.pipeline.sample)."""

from neusdf.pipeline.jobs import job
from neusdf.pipeline.sample import sample_object
from neusdf.threads import set_threads

set_threads(snakemake.threads, torch_too=False)
with job(
    snakemake.log[0],
    snakemake.params.failure,
    snakemake.config["time_limit_minutes"],
    stage="sample",
    object=snakemake.wildcards.obj,
):
    sample_object(
        mesh_path=snakemake.input.mesh,
        meta_path=snakemake.input.meta,
        out_path=snakemake.output.samples,
        cfg=dict(snakemake.params.sample),
        seed=snakemake.params.seed,
        threads=snakemake.threads,
    )
