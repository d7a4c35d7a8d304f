"""Snakemake entry point of rule plot_slices (logic: neusdf.pipeline.plot)."""

from neusdf.pipeline.compute import Compute
from neusdf.pipeline.jobs import rule_job
from neusdf.pipeline.plot import plot_object
from neusdf.threads import set_threads

set_threads(snakemake.threads, torch_too=False)  # torch, if ever needed, in load_field
obj, model = snakemake.wildcards.obj, snakemake.wildcards.model
with rule_job(snakemake, "plot"):
    plot_object(
        checkpoint_path=snakemake.input.checkpoint,
        gt_mesh_path=snakemake.input.gt_mesh,
        meta_path=snakemake.input.meta,
        png_out=snakemake.output[0],
        title=f"{model} / {obj}",
        cfg=dict(snakemake.params.plot),
        sample_cfg=dict(snakemake.params.sample),
        compute=Compute.of_job(snakemake.config, "plot", snakemake.threads),
    )
