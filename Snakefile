# neusdf: triangle meshes -> normalized meshes -> HDF5 samples -> trained hash-grid SDFs
#         -> metrics -> results/summary.csv
#
#   snakemake --cores 1 --resources gpu=1                    # everything
#   snakemake results/metrics/hashgrid/torus.json --cores 1 --resources gpu=1   # one object
#   snakemake --cores 1 --resources gpu=1 --config raw_dir=../shared/meshes

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


# Cheap whole-run jobs stay on the submitting machine under a cluster executor.
localrules:
    all,
    aggregate,
    plot_summary,
    plot_collection,
    compare_models,
    gallery,


include: "rules/common.smk"
include: "rules/normalize.smk"
include: "rules/sample.smk"
include: "rules/train.smk"
include: "rules/extract.smk"
include: "rules/evaluate.smk"
include: "rules/aggregate.smk"
include: "rules/plot.smk"
include: "rules/compare.smk"
include: "rules/render.smk"


rule all:
    default_target: True
    input:
        "results/summary.csv",
        "results/summary.md",
        rules.aggregate.output.complete,
        "results/plots/summary.png",
        "results/plots/collection.png",
        "results/worst.csv",
        "results/models.csv",
        "results/plots/models.png",
        "results/gallery.html",


onstart:
    one_pending_wakeup()


onsuccess:
    announce_outcome()


# With --keep-going, failed objects must still appear in the summary (status, stage, reason).
onerror:
    write_summary_after_failures()
    write_gallery_after_failures()
    announce_outcome()
