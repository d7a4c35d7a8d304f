"""Snakemake entry point of rule train (logic: neusdf.pipeline.train)."""

from neusdf.pipeline.compute import Compute
from neusdf.pipeline.jobs import rule_job
from neusdf.pipeline.train import train_object
from neusdf.threads import set_threads

set_threads(snakemake.threads)
obj, model = snakemake.wildcards.obj, snakemake.wildcards.model
with rule_job(snakemake, "train"):
    train_object(
        samples_path=snakemake.input.samples,
        meta_path=snakemake.input.meta,
        checkpoint_out=snakemake.output.checkpoint,
        history_out=snakemake.output.history,
        model_name=model,
        model_config=dict(snakemake.params.model),
        compute=Compute.of_job(snakemake.config, "train", snakemake.threads),
        seed=snakemake.params.seed,
        mesh_path=snakemake.input.mesh,
        sample_cfg=dict(snakemake.params.sample),
    )
