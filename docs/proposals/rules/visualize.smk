# PROPOSAL: mesh extraction, geometric metrics and pictures. Include from the Snakefile after
# evaluate.smk:   include: "rules/visualize.smk"
# Needs: config keys extract/geometry/plot (schema below, README), stage functions from
# docs/proposals/stages_visualize.py in neusdf.stages, scripts from docs/proposals/scripts/,
# captions from docs/proposals/report/ copied to report/ at the repository root.


rule extract:
    input:
        checkpoint="results/models/{model}/{obj}.pt",
    output:
        mesh="results/meshes/{model}/{obj}.ply",
    params:
        failure="results/failures/extract/{model}/{obj}.json",
        extract=config["extract"],
    log:
        "results/logs/extract/{model}/{obj}.log",
    benchmark:
        "results/benchmarks/extract/{model}/{obj}.tsv"
    threads: config["extract"]["threads"]
    resources:
        gpu=1,
    conda:
        "../envs/neusdf.yaml"
    script:
        "../scripts/extract.py"


rule geometry:
    input:
        mesh="results/meshes/{model}/{obj}.ply",
        gt_mesh="results/normalized/{obj}.ply",
        meta="results/normalized/{obj}.json",
    output:
        "results/geometry/{model}/{obj}.json",
    params:
        failure="results/failures/geometry/{model}/{obj}.json",
        geometry=config["geometry"],
        seed=config["seed"],
        original_frame=config["extract"]["original_frame"],
    log:
        "results/logs/geometry/{model}/{obj}.log",
    benchmark:
        "results/benchmarks/geometry/{model}/{obj}.tsv"
    threads: 1
    conda:
        "../envs/neusdf.yaml"
    script:
        "../scripts/geometry.py"


rule plot_slices:
    input:
        checkpoint="results/models/{model}/{obj}.pt",
        gt_mesh="results/normalized/{obj}.ply",
        meta="results/normalized/{obj}.json",
    output:
        report(
            "results/plots/{model}/{obj}.png",
            caption="../report/slices.rst",
            category="SDF slices",
            subcategory="{model}",
            labels={"model": "{model}", "object": "{obj}"},
        ),
    params:
        failure="results/failures/plot/{model}/{obj}.json",
        plot=config["plot"],
        sample=config["sample"],
    log:
        "results/logs/plot/{model}/{obj}.log",
    benchmark:
        "results/benchmarks/plot/{model}/{obj}.tsv"
    threads: config["plot"]["threads"]
    resources:
        gpu=1,
    conda:
        "../envs/neusdf.yaml"
    script:
        "../scripts/plot_slices.py"


rule plot_summary:
    input:
        csv="results/summary.csv",
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
    threads: 1
    conda:
        "../envs/neusdf.yaml"
    script:
        "../scripts/plot_summary.py"
