"""Snakemake entry point of rule evaluate (logic: neusdf.pipeline.stages.evaluate_object)."""

from neusdf.pipeline.jobs import job
from neusdf.pipeline.stages import evaluate_object, set_threads

set_threads(snakemake.threads)
cfg = dict(snakemake.params.evaluate)
with job(
    snakemake.log[0],
    snakemake.params.failure,
    stage="evaluate",
    object=snakemake.wildcards.obj,
    model=snakemake.wildcards.model,
):
    evaluate_object(
        checkpoint_path=snakemake.input.checkpoint,
        samples_path=snakemake.input.samples,
        metrics_out=snakemake.output[0],
        obj=snakemake.wildcards.obj,
        model_name=snakemake.wildcards.model,
        cfg=cfg,
        backend=cfg["backend"],
        device=cfg["device"],
        threads=snakemake.threads,
        pred_mesh_path=snakemake.input.pred_mesh,
        gt_mesh_path=snakemake.input.gt_mesh,
        geometry_cfg=dict(snakemake.params.geometry),
        seed=snakemake.params.seed,
    )
