"""Snakemake entry point of rule aggregate (logic: neusdf.evaluation.summary.write_summary)."""

from neusdf.evaluation.summary import write_summary
from neusdf.pipeline.jobs import job

with job(snakemake.log[0]):
    write_summary(
        metrics_paths=list(snakemake.input.metrics),
        csv_out=snakemake.output.csv,
        md_out=snakemake.output.md,
        failure_paths=snakemake.params.failures,
        models=snakemake.params.models,
    )
