rule normalize:
    input:
        raw_mesh,
    output:
        mesh="results/normalized/{obj}.ply",
        meta="results/normalized/{obj}.json",
    params:
        failure="results/failures/normalize/{obj}.json",
        half_extent=config["normalize"]["half_extent"],
    log:
        "results/logs/normalize/{obj}.log",
    benchmark:
        "results/benchmarks/normalize/{obj}.tsv"
    threads: 1
    group:
        OBJECT_GROUP
    conda:
        "../envs/neusdf.yaml"
    script:
        "../scripts/normalize.py"
