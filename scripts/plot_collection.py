"""Snakemake entry point of rule plot_collection (logic: neusdf.pipeline.plot)."""

from neusdf.pipeline.jobs import job
from neusdf.pipeline.plot import plot_collection_file

with job(snakemake.log[0]):
    plot_collection_file(
        summary_csv=snakemake.input.csv,
        png_out=snakemake.output.png,
        worst_csv=snakemake.output.worst,
    )
