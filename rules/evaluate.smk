rule evaluate:
    input:
        checkpoint="results/models/{model}/{obj}.pt",
        samples="results/samples/{obj}.h5",
        pred_mesh="results/meshes/{model}/{obj}.ply",
        gt_mesh="results/normalized/{obj}.ply",
    output:
        "results/metrics/{model}/{obj}.json",
    params:
        failure="results/failures/evaluate/{model}/{obj}.json",
        evaluate=config["evaluate"],
        geometry=config["geometry"],
        seed=config["seed"],
    log:
        "results/logs/evaluate/{model}/{obj}.log",
    benchmark:
        "results/benchmarks/evaluate/{model}/{obj}.tsv"
    threads: config["evaluate"]["threads"]
    resources:
        gpu=1,
    group:
        OBJECT_GROUP
    conda:
        "../envs/neusdf.yaml"
    script:
        "../scripts/evaluate.py"
