rule plot_slices:
    input:
        checkpoint=rules.train.output.checkpoint,
        gt_mesh=rules.normalize.output.mesh,
        meta=rules.normalize.output.meta,
    output:
        report(
            "results/plots/{model}/{obj}.png",
            caption="../report/slices.rst",
            category="SDF slices",
            subcategory="{model}",
            labels={"model": "{model}", "object": "{obj}"},
        ),
    log:
        "results/logs/plot/{model}/{obj}.log",
    benchmark:
        "results/benchmarks/plot/{model}/{obj}.tsv"
    group:
        OBJECT_GROUP
    conda:
        "../envs/neusdf.yaml"
    threads: COMPUTE["plot"].threads
    resources:
        gpu=COMPUTE["plot"].gpus,
    params:
        failure="results/failures/plot/{model}/{obj}.json",
        plot=SETTINGS["plot"],
        sample=SETTINGS["sample"],
        code=CODE["plot"],
    script:
        "../scripts/plot_slices.py"


rule plot_summary:
    input:
        csv=rules.aggregate.output.csv,
    output:
        report(
            "results/plots/summary.png",
            caption="../report/summary.rst",
            category="Summary",
            labels={"figure": "per-object scores"},
        ),
    log:
        "results/logs/plot_summary.log",
    benchmark:
        "results/benchmarks/plot_summary.tsv"
    conda:
        "../envs/neusdf.yaml"
    threads: 1
    params:
        code=CODE["plot"],
    script:
        "../scripts/plot_summary.py"
