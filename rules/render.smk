# Pictures of every object (input, reconstruction, distance, sphere-traced field) and the gallery
# page of the report, worst surface F1 first.


rule render:
    input:
        checkpoint=rules.train.output.checkpoint,
        mesh=rules.extract.output.mesh,
        mesh_meta=rules.extract.output.meta,
        gt_mesh=rules.normalize.output.mesh,
        gt_meta=rules.normalize.output.meta,
    output:
        png=report(
            "results/renders/{model}/{obj}.png",
            caption="../report/render.rst",
            category="Renders",
            subcategory="{model}",
            labels={"model": "{model}", "object": "{obj}"},
        ),
        record="results/renders/{model}/{obj}.json",
    log:
        "results/logs/render/{model}/{obj}.log",
    benchmark:
        "results/benchmarks/render/{model}/{obj}.tsv"
    group:
        OBJECT_GROUP
    conda:
        "../envs/neusdf.yaml"
    threads: COMPUTE["render"].threads
    resources:
        gpu=COMPUTE["render"].gpus,
    params:
        failure="results/failures/render/{model}/{obj}.json",
        render=SETTINGS["render"],
        code=CODE["render"],
    script:
        "../scripts/render.py"


rule gallery:
    input:
        # The pictures are inputs of aggregate, which remakes the summary when one changes; a
        # second list of them here would put every object's picture in every --batch plan.
        summary=rules.aggregate.output.csv,
    output:
        report(
            "results/gallery.html",
            caption="../report/gallery.rst",
            category="Gallery",
            labels={"page": "every object, worst surface F1 first"},
        ),
    log:
        "results/logs/gallery.log",
    benchmark:
        "results/benchmarks/gallery.tsv"
    conda:
        "../envs/neusdf.yaml"
    threads: 1
    params:
        pattern=lambda wildcards: "results/renders/{model}/{obj}.png",
        code=CODE["gallery"],
    script:
        "../scripts/gallery.py"
