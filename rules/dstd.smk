"""DSTD itself, no training (paper Fig. 2c-d, Fig. 3a-f, Table 1):
notebooks/fig2_dstd_traces.ipynb (membrane traces, exact vs DSTD) and
notebooks/fig3_dstd_properties.ipynb (error scaling, time and memory with vs without DSTD, and
the measured complexity exponents of Table 1). The benchmark asks for all its threads so that
no other job shares the cores while it is timed."""

DSTD = f"{RESULTS}/dstd"
FIG3_FIGS = ["fig3ab", "fig3cf"]
TABLE1 = [f"{TABLES}/table1.csv", f"{TABLES}/table1.md"]

STAGES["dstd"] = {
    "title": "DSTD: traces, error scaling, efficiency benchmark",
    "items": {
        "fig2": [f"{FIGURES}/fig2.pdf", f"{FIGURES}/fig2.png"],
        "fig3": [f"{FIGURES}/{f}.{ext}" for f in FIG3_FIGS for ext in ("pdf", "png")],
        "table1": TABLE1,
    },
    "values": [f"{DSTD}/fig2_record.json", f"{DSTD}/fig3_record.json"],
    "outputs": [f"{FIGURES}/fig2.pdf", f"{FIGURES}/fig2.png", f"{DSTD}/fig2_record.json", f"{DSTD}/fig3_record.json"]
    + [f"{FIGURES}/{f}.{ext}" for f in FIG3_FIGS for ext in ("pdf", "png")]
    + TABLE1,
}


rule dstd_fig2:
    """Fig. 2c, d: membrane trajectories of an untrained layer, exact vs DSTD."""
    input:
        notebook="notebooks/fig2_dstd_traces.ipynb",
    output:
        notebook=f"{DSTD}/fig2/notebook.ipynb",
        numbers=f"{DSTD}/fig2.json",
        record=f"{DSTD}/fig2_record.json",
        figures=[f"{FIGURES}/fig2.pdf", f"{FIGURES}/fig2.png"],
    params:
        nb=pipeline.nb_params_json(
            "notebooks/fig2_dstd_traces.ipynb", P["dstd"]["fig2"], out_dir=DSTD, fig_dir=FIGURES
        ),
    threads: P["dstd"]["fig2"]["threads"]
    log:
        f"{LOGS}/dstd/fig2.log",
    conda:
        "../environment.yml"
    shell:
        NOTEBOOK_JOB


rule dstd_fig3:
    """Fig. 3a-f and Table 1: DSTD error vs M and |E|; time and memory with vs without DSTD."""
    input:
        notebook="notebooks/fig3_dstd_properties.ipynb",
    output:
        notebook=f"{DSTD}/fig3/notebook.ipynb",
        numbers=f"{DSTD}/fig3.json",
        record=f"{DSTD}/fig3_record.json",
        figures=[f"{FIGURES}/{f}.{ext}" for f in FIG3_FIGS for ext in ("pdf", "png")],
        tables=TABLE1,
    params:
        nb=pipeline.nb_params_json(
            "notebooks/fig3_dstd_properties.ipynb",
            P["dstd"]["fig3"],
            out_dir=DSTD,
            fig_dir=FIGURES,
            table_dir=TABLES,
        ),
    threads: P["dstd"]["fig3"]["threads"]
    resources:
        gpu=P["dstd"]["fig3"]["gpus"],
    log:
        f"{LOGS}/dstd/fig3.log",
    conda:
        "../environment.yml"
    shell:
        NOTEBOOK_JOB
