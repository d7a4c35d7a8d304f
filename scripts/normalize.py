"""Snakemake entry point of rule normalize (logic: neusdf.pipeline.normalize)."""

from neusdf.pipeline.jobs import rule_job
from neusdf.pipeline.normalize import normalize_object

with rule_job(snakemake, "normalize"):
    normalize_object(
        source=snakemake.input[0],
        mesh_out=snakemake.output.mesh,
        meta_out=snakemake.output.meta,
        half_extent=snakemake.params.half_extent,
    )
