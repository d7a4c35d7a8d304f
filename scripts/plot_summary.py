"""Snakemake entry point of rule plot_summary (logic: neusdf.pipeline.plot.plot_summary_file)."""

from neusdf.pipeline.jobs import job
from neusdf.pipeline.plot import plot_summary_file

with job(snakemake.log[0]):
    plot_summary_file(summary_csv=snakemake.input.csv, png_out=snakemake.output[0])
