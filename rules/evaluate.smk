rule evaluate:
    input:
        checkpoint=rules.train.output.checkpoint,
        samples=rules.sample.output.samples,
        pred_mesh=rules.extract.output.mesh,
        pred_meta=rules.extract.output.meta,
        gt_mesh=rules.normalize.output.mesh,
    output:
        metrics="results/metrics/{model}/{obj}.json",
    log:
        "results/logs/evaluate/{model}/{obj}.log",
    benchmark:
        "results/benchmarks/evaluate/{model}/{obj}.tsv"
    group:
        OBJECT_GROUP
    conda:
        "../envs/neusdf.yaml"
    threads: COMPUTE["evaluate"].threads
    resources:
        gpu=COMPUTE["evaluate"].gpus,
    params:
        failure="results/failures/evaluate/{model}/{obj}.json",
        evaluate=SETTINGS["evaluate"],
        geometry=config["geometry"],
        seed=config["seed"],
        code=CODE["evaluate"],
    script:
        "../scripts/evaluate.py"
