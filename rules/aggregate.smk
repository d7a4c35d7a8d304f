rule aggregate:
    input:
        all_metrics,
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
    conda:
        "../envs/neusdf.yaml"
    threads: 1
    params:
        failures=failure_records,
        models=MODELS,
        code=CODE["aggregate"],
    script:
        "../scripts/aggregate.py"
