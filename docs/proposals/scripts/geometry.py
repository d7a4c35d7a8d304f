"""Snakemake entry point of rule geometry (logic: neusdf.stages.geometry_object)."""
# ruff: noqa: F821 - `snakemake` is injected; drop this line once the file is in scripts/

from neusdf.scripting import job
from neusdf.stages import geometry_object, set_threads

set_threads(snakemake.threads)
with job(
    snakemake.log[0],
    snakemake.params.failure,
    stage="geometry",
    object=snakemake.wildcards.obj,
    model=snakemake.wildcards.model,
):
    geometry_object(
        pred_mesh_path=snakemake.input.mesh,
        gt_mesh_path=snakemake.input.gt_mesh,
        out_path=snakemake.output[0],
        obj=snakemake.wildcards.obj,
        model_name=snakemake.wildcards.model,
        cfg={**snakemake.params.geometry, "threads": snakemake.threads},
        seed=snakemake.params.seed,
        original_frame=snakemake.params.original_frame,
        meta_path=snakemake.input.meta,
    )
