rule normalize:
    input:
        raw_mesh,
    output:
        mesh="results/normalized/{obj}.ply",
        meta="results/normalized/{obj}.json",
    log:
        "results/logs/normalize/{obj}.log",
    benchmark:
        "results/benchmarks/normalize/{obj}.tsv"
    group:
        OBJECT_GROUP
    conda:
        "../envs/neusdf.yaml"
    threads: 1
    params:
        failure="results/failures/normalize/{obj}.json",
        half_extent=config["normalize"]["half_extent"],
        code=CODE["normalize"],
    script:
        "../scripts/normalize.py"
