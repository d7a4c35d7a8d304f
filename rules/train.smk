rule train:
    input:
        samples="results/samples/{obj}.h5",
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
    log:
        "results/logs/train/{model}/{obj}.log",
    benchmark:
        "results/benchmarks/train/{model}/{obj}.tsv"
    threads: config["train"]["threads"]
    resources:
        gpu=1,
    group:
        OBJECT_GROUP
    conda:
        "../envs/neusdf.yaml"
    script:
        "../scripts/train.py"
