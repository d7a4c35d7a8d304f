"""Snakemake entry point of rule gallery (logic: neusdf.pipeline.render.write_gallery)."""

from neusdf.pipeline.jobs import job
from neusdf.pipeline.render import write_gallery

with job(snakemake.log[0]):
    write_gallery(
        summary_csv=snakemake.input.summary,
        render_pattern=snakemake.params.pattern,
        html_out=snakemake.output[0],
    )
