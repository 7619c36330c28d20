"""Fashion-MNIST RC-Spike MLP (paper Fig. 4c-f, Fig. 11a, Fig. 14 left, Table 3 MLP rows).

The profile's `mlp.grid` (arguments of pnnlib.experiments.mlp_grids) expands into one
notebooks/run_train.ipynb execution per run (|E| × M × offset × σ × seed; runs shared by several
figures run once), `mlp.train` holds the training settings common to all of them. Then
notebooks/fig4_mlp_fmnist.ipynb aggregates the finished runs (and evaluates the ANN baselines).
"""

from pnnlib.experiments import ID_KEYS, mlp_grids

MLP = f"{RESULTS}/mlp"
MLP_GRID = P["mlp"]["grid"]
MLP_RUNS = pipeline.expand_grid(mlp_grids(**MLP_GRID), fixed=P["mlp"]["train"], id_keys=ID_KEYS)
MLP_FIGS = ["fig4", "fig11a", "fig14_mlp"]
MLP_TABLES = [f"{TABLES}/table3_mlp.csv", f"{TABLES}/table3_mlp.md"]
MLP_NUMBERS = f"{MLP}/summary/fig4_mlp_numbers.json"
MLP_FIGURES = P["mlp"]["figures"]
if MLP_FIGURES.get("ann_e", 100.0) not in MLP_GRID["e_sweep"] or not any(
    e < MLP_FIGURES.get("ann_e", 100.0) for e in MLP_GRID["e_sweep"]
):
    raise pipeline.ProfileError("mlp.figures.ann_e must be in mlp.grid.e_sweep, with smaller |E| to test it at")
if not set(MLP_FIGURES.get("ann_seeds", [0])) <= set(MLP_GRID["seeds"]):
    raise pipeline.ProfileError("mlp.figures.ann_seeds must be a subset of mlp.grid.seeds")

STAGES["mlp"] = {
    "title": f"Fashion-MNIST RC-Spike MLP ({len(MLP_RUNS)} training runs)",
    "items": {
        "fig4": [f"{FIGURES}/fig4.pdf", f"{FIGURES}/fig4.png"],
        "fig11": [f"{FIGURES}/fig11a.pdf", f"{FIGURES}/fig11a.png"],
        "fig14": [f"{FIGURES}/fig14_mlp.pdf", f"{FIGURES}/fig14_mlp.png"],
        "table3": MLP_TABLES,
    },
    "values": [MLP_NUMBERS],
    "outputs": [f"{FIGURES}/{f}.{ext}" for f in MLP_FIGS for ext in ("pdf", "png")] + MLP_TABLES + [MLP_NUMBERS],
}


rule mlp_run:
    """One training run of the grid (resumes from its checkpoint if interrupted)."""
    input:
        notebook="notebooks/run_train.ipynb",
    output:
        notebook=f"{MLP}/runs/{{run}}/notebook.ipynb",
        metrics=f"{MLP}/runs/{{run}}/metrics.json",
        weights=f"{MLP}/runs/{{run}}/weights.pt",
        hist=f"{MLP}/runs/{{run}}/spike_hist.npz",
    params:
        nb=lambda wc: pipeline.nb_params_json(
            "notebooks/run_train.ipynb", MLP_RUNS[wc.run], out_dir=f"{MLP}/runs/{wc.run}"
        ),
        run_dir=lambda wc: f"{MLP}/runs/{wc.run}",
        resumable="epochs,num_threads,progress",
    wildcard_constraints:
        run="[A-Za-z0-9._-]+",
    threads: P["mlp"]["threads"]
    resources:
        gpu=P["mlp"]["gpus"],
    log:
        f"{LOGS}/mlp/{{run}}.log",
    conda:
        "../environment.yml"
    shell:
        TRAIN_JOB


rule mlp_figures:
    """Fig. 4c-f, Fig. 11a, Fig. 14 (left) and Table 3 (MLP rows) from the finished runs."""
    input:
        notebook="notebooks/fig4_mlp_fmnist.ipynb",
        metrics=expand(f"{MLP}/runs/{{run}}/metrics.json", run=sorted(MLP_RUNS)),
        weights=expand(f"{MLP}/runs/{{run}}/weights.pt", run=sorted(MLP_RUNS)),
    output:
        notebook=f"{MLP}/summary/notebook.ipynb",
        numbers=MLP_NUMBERS,
        figures=[f"{FIGURES}/{f}.{ext}" for f in MLP_FIGS for ext in ("pdf", "png")],
        tables=MLP_TABLES,
    params:
        nb=pipeline.nb_params_json(
            "notebooks/fig4_mlp_fmnist.ipynb",
            MLP_FIGURES,
            runs_dir=f"{MLP}/runs",
            fig_dir=FIGURES,
            out_dir=f"{MLP}/summary",
            sigma_main=MLP_GRID["sigma"],
            curve_e=MLP_GRID["curve_e"],
            curve_m=MLP_GRID["curve_m"],
            offsets=MLP_GRID["offsets"],
            m_sweep_e=MLP_GRID["m_sweep_e"],
            e_sweep_m=MLP_GRID["e_sweep_m"],
            sigmas=MLP_GRID["sigmas"],
            sigma_m=MLP_GRID["sigma_m"],
        ),
        # the notebook caches the ANN baselines per M; stale once the runs were retrained
        clean=f"{MLP}/summary/ann_m*.json",
    threads: MLP_FIGURES["threads"]
    log:
        f"{LOGS}/mlp/figures.log",
    conda:
        "../environment.yml"
    shell:
        AGGREGATE_JOB
