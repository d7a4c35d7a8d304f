"""Snakemake entry point of rule sample (logic: neusdf.pipeline.stages.sample_object)."""

from neusdf.pipeline.jobs import job
from neusdf.pipeline.stages import sample_object, set_threads

set_threads(snakemake.threads)
with job(
    snakemake.log[0],
    snakemake.params.failure,
    stage="sample",
    object=snakemake.wildcards.obj,
):
    sample_object(
        mesh_path=snakemake.input.mesh,
        meta_path=snakemake.input.meta,
        out_path=snakemake.output[0],
        cfg=dict(snakemake.params.sample),
        seed=snakemake.params.seed,
    )
