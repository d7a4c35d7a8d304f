rule sample:
    input:
        mesh=rules.normalize.output.mesh,
        meta=rules.normalize.output.meta,
    output:
        samples="results/samples/{obj}.h5",
    log:
        "results/logs/sample/{obj}.log",
    benchmark:
        "results/benchmarks/sample/{obj}.tsv"
    group:
        OBJECT_GROUP
    conda:
        "../envs/neusdf.yaml"
    threads: COMPUTE["sample"].threads
    params:
        failure="results/failures/sample/{obj}.json",
        sample=SETTINGS["sample"],
        seed=config["seed"],
        code=CODE["sample"],
    script:
        "../scripts/sample.py"
