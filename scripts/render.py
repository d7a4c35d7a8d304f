"""Snakemake entry point of rule render (logic: neusdf.pipeline.render)."""

from neusdf.pipeline.compute import Compute
from neusdf.pipeline.jobs import rule_job
from neusdf.pipeline.render import render_object
from neusdf.threads import set_threads

set_threads(snakemake.threads, torch_too=False)
obj, model = snakemake.wildcards.obj, snakemake.wildcards.model
with rule_job(snakemake, "render"):
    render_object(
        input_mesh_path=snakemake.input.gt_mesh,
        input_meta_path=snakemake.input.gt_meta,
        mesh_path=snakemake.input.mesh,
        mesh_meta_path=snakemake.input.mesh_meta,
        checkpoint_path=snakemake.input.checkpoint,
        png_out=snakemake.output.png,
        record_out=snakemake.output.record,
        title=f"{model} / {obj}",
        cfg=dict(snakemake.params.render),
        compute=Compute.of_job(snakemake.config, "render", snakemake.threads),
    )
