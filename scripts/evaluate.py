"""Snakemake entry point of rule evaluate (logic: neusdf.pipeline.evaluate)."""

from neusdf.pipeline.compute import Compute
from neusdf.pipeline.evaluate import evaluate_object
from neusdf.pipeline.jobs import rule_job
from neusdf.threads import set_threads

set_threads(snakemake.threads, torch_too=False)  # torch, if ever needed, in load_field
obj, model = snakemake.wildcards.obj, snakemake.wildcards.model
with rule_job(snakemake, "evaluate"):
    evaluate_object(
        checkpoint_path=snakemake.input.checkpoint,
        samples_path=snakemake.input.samples,
        pred_mesh_path=snakemake.input.pred_mesh,
        pred_meta_path=snakemake.input.pred_meta,
        gt_mesh_path=snakemake.input.gt_mesh,
        metrics_out=snakemake.output.metrics,
        obj=obj,
        model_name=model,
        cfg=dict(snakemake.params.evaluate),
        geometry_cfg=dict(snakemake.params.geometry),
        compute=Compute.of_job(snakemake.config, "evaluate", snakemake.threads),
        seed=snakemake.params.seed,
    )
