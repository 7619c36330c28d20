"""Foundation demo (notebooks/demo.ipynb): the paper's MLP, untrained, on a batch of real
Fashion-MNIST test images; DSTD versus the exact solver, agreement and time. Not a paper figure."""

DEMO = f"{RESULTS}/demo"

STAGES["demo"] = {
    "title": "Foundation demo: DSTD vs exact on real Fashion-MNIST (untrained MLP)",
    "items": {},
    "values": [f"{DEMO}/record.json"],
    "outputs": [f"{DEMO}/metrics.json", f"{DEMO}/record.json", f"{DEMO}/demo_agreement.png"],
}


rule demo:
    input:
        notebook="notebooks/demo.ipynb",
    output:
        notebook=f"{DEMO}/notebook.ipynb",
        metrics=f"{DEMO}/metrics.json",
        record=f"{DEMO}/record.json",
        figure=f"{DEMO}/demo_agreement.png",
    params:
        nb=pipeline.nb_params_json("notebooks/demo.ipynb", P["demo"], out_dir=DEMO),
    threads: P["demo"]["threads"]
    log:
        f"{LOGS}/demo.log",
    conda:
        "../environment.yml"
    shell:
        NOTEBOOK_JOB
