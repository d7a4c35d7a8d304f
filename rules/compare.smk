# The model comparison: results/summary.csv -> one row per model, and its figure (docs/models.md).
# Always made, even for one model; `make compare` runs every named model.


rule compare_models:
    input:
        summary="results/summary.csv",
    output:
        csv=report(
            "results/models.csv",
            caption="../report/models_table.rst",
            category="Model comparison",
            labels={"table": "models.csv"},
        ),
        png=report(
            "results/plots/models.png",
            caption="../report/models.rst",
            category="Model comparison",
            labels={"figure": "surface F1 vs bytes and time"},
        ),
    log:
        "results/logs/compare_models.log",
    benchmark:
        "results/benchmarks/compare_models.tsv"
    conda:
        "../envs/neusdf.yaml"
    threads: 1
    params:
        models=MODELS,
        code=CODE["compare_models"],
    script:
        "../scripts/compare_models.py"
