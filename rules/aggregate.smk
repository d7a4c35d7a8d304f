rule aggregate:
    input:
        all_metrics,
    params:
        failures=failure_records,
        models=MODELS,
    output:
        csv=report(
            "results/summary.csv",
            caption="../report/summary_table.rst",
            category="Summary",
            labels={"table": "summary.csv"},
        ),
        md="results/summary.md",
    log:
        "results/logs/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate.tsv"
    threads: 1
    conda:
        "../envs/neusdf.yaml"
    script:
        "../scripts/aggregate.py"
