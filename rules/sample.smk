rule sample:
    input:
        mesh=rules.normalize.output.mesh,
        meta=rules.normalize.output.meta,
    output:
        samples="results/samples/{obj}.h5",
    params:
        failure="results/failures/sample/{obj}.json",
        sample=config["sample"],
        seed=config["seed"],
    log:
        "results/logs/sample/{obj}.log",
    benchmark:
        "results/benchmarks/sample/{obj}.tsv"
    threads: COMPUTE["sample"]["threads"]
    group:
        OBJECT_GROUP
    conda:
        "../envs/neusdf.yaml"
    script:
        "../scripts/sample.py"
