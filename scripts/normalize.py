"""Snakemake entry point of rule normalize (logic: neusdf.pipeline.normalize)."""

from neusdf.pipeline.jobs import job
from neusdf.pipeline.normalize import normalize_object

with job(
    snakemake.log[0],
    snakemake.params.failure,
    snakemake.config["time_limit_minutes"],
    stage="normalize",
    object=snakemake.wildcards.obj,
):
    normalize_object(
        source=snakemake.input[0],
        mesh_out=snakemake.output.mesh,
        meta_out=snakemake.output.meta,
        half_extent=snakemake.params.half_extent,
    )
