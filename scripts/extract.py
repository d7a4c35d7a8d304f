"""Snakemake entry point of rule extract (logic: neusdf.pipeline.stages.extract_object)."""

from neusdf.pipeline.jobs import job
from neusdf.pipeline.stages import extract_object, set_threads

set_threads(snakemake.threads)
cfg = dict(snakemake.params.extract)
with job(
    snakemake.log[0],
    snakemake.params.failure,
    stage="extract",
    object=snakemake.wildcards.obj,
    model=snakemake.wildcards.model,
):
    extract_object(
        checkpoint_path=snakemake.input.checkpoint,
        mesh_out=snakemake.output.mesh,
        cfg=cfg,
        backend=cfg["backend"],
        device=cfg["device"],
        threads=snakemake.threads,
    )
