"""Snakemake entry point of rule train (logic: neusdf.pipeline.stages.train_object)."""

from neusdf.pipeline.jobs import job
from neusdf.pipeline.stages import set_threads, train_object

set_threads(snakemake.threads)
with job(
    snakemake.log[0],
    snakemake.params.failure,
    stage="train",
    object=snakemake.wildcards.obj,
    model=snakemake.wildcards.model,
):
    train_object(
        samples_path=snakemake.input.samples,
        meta_path=snakemake.input.meta,
        checkpoint_out=snakemake.output.checkpoint,
        history_out=snakemake.output.history,
        model_name=snakemake.wildcards.model,
        model_config=dict(snakemake.params.model),
        backend=snakemake.params.backend,
        device=snakemake.params.device,
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        mesh_path=snakemake.input.mesh,
        sample_cfg=dict(snakemake.params.sample),
    )
