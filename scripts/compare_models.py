"""Snakemake entry point of rule compare_models (logic: neusdf.evaluation.comparison)."""

from neusdf.evaluation.comparison import write_model_comparison
from neusdf.pipeline.jobs import job

with job(snakemake.log[0]):
    write_model_comparison(
        summary_csv=snakemake.input.summary,
        csv_out=snakemake.output.csv,
        png_out=snakemake.output.png,
        models=snakemake.params.models,
    )
