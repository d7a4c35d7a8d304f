"""Snakemake entry point of rule plot_summary (logic: neusdf.stages.plot_summary_file)."""

from neusdf.scripting import job
from neusdf.stages import plot_summary_file

with job(snakemake.log[0]):
    plot_summary_file(summary_csv=snakemake.input.csv, png_out=snakemake.output[0])
