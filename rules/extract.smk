rule extract:
    input:
        checkpoint=rules.train.output.checkpoint,
    output:
        mesh="results/meshes/{model}/{obj}.ply",
        meta="results/meshes/{model}/{obj}.json",
    params:
        failure="results/failures/extract/{model}/{obj}.json",
        extract=config["extract"],
        compute=COMPUTE["extract"],
    log:
        "results/logs/extract/{model}/{obj}.log",
    benchmark:
        "results/benchmarks/extract/{model}/{obj}.tsv"
    threads: COMPUTE["extract"]["threads"]
    resources:
        gpu=1,
    group:
        OBJECT_GROUP
    conda:
        "../envs/neusdf.yaml"
    script:
        "../scripts/extract.py"
