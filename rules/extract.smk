rule extract:
    input:
        checkpoint=rules.train.output.checkpoint,
    output:
        mesh="results/meshes/{model}/{obj}.ply",
        meta="results/meshes/{model}/{obj}.json",
    log:
        "results/logs/extract/{model}/{obj}.log",
    benchmark:
        "results/benchmarks/extract/{model}/{obj}.tsv"
    group:
        OBJECT_GROUP
    conda:
        "../envs/neusdf.yaml"
    threads: COMPUTE["extract"].threads
    resources:
        gpu=COMPUTE["extract"].gpus,
    params:
        failure="results/failures/extract/{model}/{obj}.json",
        extract=SETTINGS["extract"],
        code=CODE["extract"],
    script:
        "../scripts/extract.py"
