rule sample:
    input:
        mesh="results/normalized/{obj}.ply",
        meta="results/normalized/{obj}.json",
    output:
        "results/samples/{obj}.h5",
    params:
        failure="results/failures/sample/{obj}.json",
        sample=config["sample"],
        seed=config["seed"],
    log:
        "results/logs/sample/{obj}.log",
    benchmark:
        "results/benchmarks/sample/{obj}.tsv"
    threads: config["sample"]["threads"]
    group:
        OBJECT_GROUP
    conda:
        "../envs/neusdf.yaml"
    script:
        "../scripts/sample.py"
