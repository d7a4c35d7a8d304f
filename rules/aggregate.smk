# Every per-object output is an input here (not of `all` or of `gallery`), so that `snakemake
# --batch aggregate=i/N` covers them all, batch by batch (docs/datasets.md). A new slice figure
# must exist but leaves the summary as it is (ancient); a new picture remakes the summary, and so
# the gallery made from it.
rule aggregate:
    input:
        metrics=all_metrics,
        plots=existing_plots,
        renders=all_renders,
    output:
        csv=report(
            "results/summary.csv",
            caption="../report/summary_table.rst",
            category="Summary",
            labels={"table": "summary.csv"},
        ),
        md="results/summary.md",
        # Left by this job only: a summary written after failures (common.smk) has none, so
        # the next run still sees the aggregate unfinished and tries the missing objects again.
        complete=touch("results/summary.complete"),
    log:
        "results/logs/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate.tsv"
    conda:
        "../envs/neusdf.yaml"
    threads: 1
    params:
        failures=failure_records,
        models=MODELS,
        code=CODE["aggregate"],
    script:
        "../scripts/aggregate.py"


rule plot_collection:
    input:
        csv=rules.aggregate.output.csv,
    output:
        png=report(
            "results/plots/collection.png",
            caption="../report/collection.rst",
            category="Summary",
            labels={"figure": "distributions and failures"},
        ),
        worst=report(
            "results/worst.csv",
            caption="../report/worst_table.rst",
            category="Summary",
            labels={"table": "worst objects"},
        ),
    log:
        "results/logs/plot_collection.log",
    benchmark:
        "results/benchmarks/plot_collection.tsv"
    conda:
        "../envs/neusdf.yaml"
    threads: 1
    params:
        code=CODE["plot"],
    script:
        "../scripts/plot_collection.py"
