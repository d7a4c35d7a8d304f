"""Snakemake entry point of rule sample (logic: neusdf.pipeline.sample)."""

from neusdf.pipeline.jobs import rule_job
from neusdf.pipeline.sample import sample_object
from neusdf.threads import set_threads

set_threads(snakemake.threads, torch_too=False)
with rule_job(snakemake, "sample"):
    sample_object(
        mesh_path=snakemake.input.mesh,
        meta_path=snakemake.input.meta,
        out_path=snakemake.output.samples,
        cfg=dict(snakemake.params.sample),
        seed=snakemake.params.seed,
        threads=snakemake.threads,
    )
