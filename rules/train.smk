rule train:
    input:
        samples=rules.sample.output.samples,
        mesh=rules.normalize.output.mesh,  # ground truth of kind: exact_grid
        meta=rules.normalize.output.meta,
    output:
        checkpoint="results/models/{model}/{obj}.safetensors",
        history="results/models/{model}/{obj}.history.csv",
    log:
        "results/logs/train/{model}/{obj}.log",
    benchmark:
        "results/benchmarks/train/{model}/{obj}.tsv"
    group:
        OBJECT_GROUP
    conda:
        "../envs/neusdf.yaml"
    threads: COMPUTE["train"].threads
    resources:
        gpu=COMPUTE["train"].gpus,
    params:
        failure="results/failures/train/{model}/{obj}.json",
        model=model_config,
        seed=config["seed"],
        sample=SETTINGS["sample"],
        code=CODE["train"],
    script:
        "../scripts/train.py"
