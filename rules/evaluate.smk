rule evaluate:
    input:
        checkpoint="results/models/{model}/{obj}.pt",
        samples="results/samples/{obj}.h5",
    output:
        "results/metrics/{model}/{obj}.json",
    params:
        failure="results/failures/evaluate/{model}/{obj}.json",
        evaluate=config["evaluate"],
    log:
        "results/logs/evaluate/{model}/{obj}.log",
    benchmark:
        "results/benchmarks/evaluate/{model}/{obj}.tsv"
    threads: config["evaluate"]["threads"]
    resources:
        gpu=1,
    conda:
        "../envs/neusdf.yaml"
    script:
        "../scripts/evaluate.py"
