rule train:
    input:
        samples="results/samples/{obj}.h5",
        mesh="results/normalized/{obj}.ply",  # ground truth of kind: exact_grid
        meta="results/normalized/{obj}.json",
    output:
        checkpoint="results/models/{model}/{obj}.pt",
        history="results/models/{model}/{obj}.history.csv",
    params:
        failure="results/failures/train/{model}/{obj}.json",
        model=model_config,
        backend=config["train"]["backend"],
        device=config["train"]["device"],
        seed=config["seed"],
        sample=config["sample"],
    log:
        "results/logs/train/{model}/{obj}.log",
    benchmark:
        "results/benchmarks/train/{model}/{obj}.tsv"
    threads: config["train"]["threads"]
    resources:
        gpu=1,
    conda:
        "../envs/neusdf.yaml"
    script:
        "../scripts/train.py"
