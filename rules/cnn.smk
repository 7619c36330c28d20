"""Convolutional networks (paper Figs. 5, 10, 11b, 12, 13; Table 3 CNN rows).

Four families of training runs (pnnlib.experiments.cnn.FAMILIES), each a grid from the profile's
`cnn.families.<family>.grid` (arguments of pnnlib.experiments.cnn.rc_cnn_grids / sigma_grids / ttfs_grids)
with the family's fixed settings overridden by `cnn.families.<family>.train`; one
notebooks/run_train.ipynb execution per run, in <results>/cnn/<family>/<run-id>/. Then:

* fig5_vgg7_cifar10.ipynb      — Fig. 5 (CIFAR-10 VGG7: curves, accuracy vs M and vs |E|, ANN);
* fig10_ttfs_cnn.ipynb         — Fig. 10 (TTFS CNN: traces, accuracy vs M and vs E⁺, ANN);
* fig11b_12_sigma_sweeps.ipynb — Fig. 11b, Fig. 12, Table 3 CNN rows (σ_spike sweeps);
* fig13_test_time_m.ipynb      — Fig. 13 (accuracy vs test-time M of trained MLP/VGG7/TTFS runs).
"""

from pnnlib.experiments import cnn as cnn_exp

CNN = f"{RESULTS}/cnn"
CNN_P = P["cnn"]
# family -> {run id: TrainConfig}, planned in the library (checks included)
CNN_RUNS = cnn_exp.plan(CNN_P)
CNN_GRID = {family: spec["grid"] for family, spec in CNN_P["families"].items()}
SIGMA_FAMILIES = ["vgg7_fmnist", "vgg7_cifar10", "vgg7x2_cifar10"]

# Consistency of the figures with the runs (fail when the DAG is built, naming the setting).
for family, fig in (("vgg7_cifar10", "fig5"), ("ttfs_cnn_fmnist", "fig10")):
    ann_e = CNN_P[fig]["ann_e"]
    if ann_e not in CNN_GRID[family]["e_sweep"] or not any(e < ann_e for e in CNN_GRID[family]["e_sweep"]):
        raise pipeline.ProfileError(
            f"cnn.{fig}.ann_e must be in cnn.families.{family}.grid.e_sweep, with smaller |E| to test it at"
        )
if {CNN_GRID[f]["sigma_m"] for f in SIGMA_FAMILIES} != {CNN_GRID["vgg7_fmnist"]["sigma_m"]} or any(
    CNN_GRID[f]["sigmas"] != CNN_GRID["vgg7_fmnist"]["sigmas"] for f in SIGMA_FAMILIES
):
    raise pipeline.ProfileError(f"cnn.families.{{{','.join(SIGMA_FAMILIES)}}}.grid: sigmas and sigma_m must agree")
# Fig. 13: trained runs named by stage (mlp or a CNN family) and run id -> run directories.
FIG13_MODELS = []
for model in CNN_P["fig13"]["models"]:
    runs = MLP_PLAN if model["stage"] == "mlp" and "mlp" in STAGES else CNN_RUNS.get(model["stage"], {})
    if model["run"] not in runs:
        raise pipeline.ProfileError(
            f"cnn.fig13.models: no run {model['run']} in stage {model['stage']} of this profile "
            f"(known: {', '.join(sorted(runs)) or 'none, the stage is not wired'})"
        )
    run_dir = f"{MLP}/runs/{model['run']}" if model["stage"] == "mlp" else f"{CNN}/{model['stage']}/{model['run']}"
    FIG13_MODELS.append({"name": model["name"], "run": run_dir, "paper_m": model["paper_m"]})

CNN_FIGS = {"fig5": "fig5", "fig10": "fig10", "fig11": "fig11b", "fig12": "fig12", "fig13": "fig13"}
CNN_TABLES = [f"{TABLES}/table3_cnn.csv", f"{TABLES}/table3_cnn.md"]
CNN_NUMBERS = [
    f"{CNN}/fig5/fig5_numbers.json",
    f"{CNN}/fig10/fig10_numbers.json",
    f"{CNN}/sigma/fig11b_12_numbers.json",
    f"{CNN}/fig13/fig13_numbers.json",
]

STAGES["cnn"] = {
    "title": f"Convolutional networks ({sum(len(r) for r in CNN_RUNS.values())} training runs)",
    "items": {item: [f"{FIGURES}/{name}.pdf", f"{FIGURES}/{name}.png"] for item, name in CNN_FIGS.items()}
    | {"table3": CNN_TABLES},
    "values": CNN_NUMBERS,
    "outputs": [f"{FIGURES}/{name}.{ext}" for name in CNN_FIGS.values() for ext in ("pdf", "png")]
    + CNN_TABLES
    + CNN_NUMBERS,
}


rule cnn_run:
    """One CNN training run of a family's grid (resumes from its checkpoint if interrupted)."""
    input:
        notebook="notebooks/run_train.ipynb",
    output:
        notebook=f"{CNN}/{{family}}/{{run}}/notebook.ipynb",
        metrics=f"{CNN}/{{family}}/{{run}}/metrics.json",
        weights=f"{CNN}/{{family}}/{{run}}/weights.pt",
        hist=f"{CNN}/{{family}}/{{run}}/spike_hist.npz",
    params:
        nb=lambda wc: pipeline.nb_params_json(
            "notebooks/run_train.ipynb", {}, config=CNN_RUNS[wc.family][wc.run].to_dict(),
            out_dir=f"{CNN}/{wc.family}/{wc.run}", archive_profile=P["profile"], stage=f"cnn/{wc.family}",
            recompute=RECOMPUTE,
        ),
        run_dir=lambda wc: f"{CNN}/{wc.family}/{wc.run}",
        resumable="epochs,num_threads,progress",
    wildcard_constraints:
        family="|".join(CNN_RUNS),
        run="[A-Za-z0-9._-]+",
    threads: CNN_P["threads"]
    resources:
        gpu=CNN_P["gpus"],
    log:
        f"{LOGS}/cnn/{{family}}/{{run}}.log",
    conda:
        "../environment.yml"
    shell:
        TRAIN_JOB


rule cnn_fig5:
    """Fig. 5: RC-Spike VGG7 on CIFAR-10 (learning curves, accuracy vs M and vs |E|, ANN baselines)."""
    input:
        notebook="notebooks/fig5_vgg7_cifar10.ipynb",
        weights=expand(f"{CNN}/vgg7_cifar10/{{run}}/weights.pt", run=sorted(CNN_RUNS["vgg7_cifar10"])),
    output:
        notebook=f"{CNN}/fig5/notebook.ipynb",
        numbers=f"{CNN}/fig5/fig5_numbers.json",
        figures=[f"{FIGURES}/fig5.pdf", f"{FIGURES}/fig5.png"],
    params:
        nb=pipeline.nb_params_json(
            "notebooks/fig5_vgg7_cifar10.ipynb",
            CNN_P["fig5"],
            **pipeline.grid_params(
                "notebooks/fig5_vgg7_cifar10.ipynb", CNN_GRID["vgg7_cifar10"], {"sigma": "sigma_main"}
            ),
            runs_dir=f"{CNN}/vgg7_cifar10",
            fig_dir=FIGURES,
            out_dir=f"{CNN}/fig5",
        ),
        clean=f"{CNN}/fig5/ann_m*.json",
    threads: CNN_P["fig5"]["threads"]
    log:
        f"{LOGS}/cnn/fig5.log",
    conda:
        "../environment.yml"
    shell:
        AGGREGATE_JOB


rule cnn_fig10:
    """Fig. 10: TTFS CNN on Fashion-MNIST (membrane traces, accuracy vs M and vs E⁺, ANN baselines)."""
    input:
        notebook="notebooks/fig10_ttfs_cnn.ipynb",
        weights=expand(f"{CNN}/ttfs_cnn_fmnist/{{run}}/weights.pt", run=sorted(CNN_RUNS["ttfs_cnn_fmnist"])),
    output:
        notebook=f"{CNN}/fig10/notebook.ipynb",
        numbers=f"{CNN}/fig10/fig10_numbers.json",
        figures=[f"{FIGURES}/fig10.pdf", f"{FIGURES}/fig10.png"],
    params:
        nb=pipeline.nb_params_json(
            "notebooks/fig10_ttfs_cnn.ipynb",
            CNN_P["fig10"],
            **pipeline.grid_params(
                "notebooks/fig10_ttfs_cnn.ipynb", CNN_GRID["ttfs_cnn_fmnist"], {"sigma": "sigma_main"}
            ),
            runs_dir=f"{CNN}/ttfs_cnn_fmnist",
            fig_dir=FIGURES,
            out_dir=f"{CNN}/fig10",
        ),
        clean=f"{CNN}/fig10/ann_m*.json",
    threads: CNN_P["fig10"]["threads"]
    log:
        f"{LOGS}/cnn/fig10.log",
    conda:
        "../environment.yml"
    shell:
        AGGREGATE_JOB


rule cnn_sigma:
    """Fig. 11b, Fig. 12 and Table 3 (CNN rows): accuracy vs |E| per σ_spike of the three VGG7 families."""
    input:
        notebook="notebooks/fig11b_12_sigma_sweeps.ipynb",
        weights=[f"{CNN}/{family}/{run}/weights.pt" for family in SIGMA_FAMILIES for run in sorted(CNN_RUNS[family])],
    output:
        notebook=f"{CNN}/sigma/notebook.ipynb",
        numbers=f"{CNN}/sigma/fig11b_12_numbers.json",
        figures=[f"{FIGURES}/{name}.{ext}" for name in ("fig11b", "fig12") for ext in ("pdf", "png")],
        tables=CNN_TABLES,
    params:
        nb=pipeline.nb_params_json(
            "notebooks/fig11b_12_sigma_sweeps.ipynb",
            CNN_P["sigma"],
            **pipeline.grid_params("notebooks/fig11b_12_sigma_sweeps.ipynb", CNN_GRID["vgg7_fmnist"]),
            runs_root=CNN,
            fig_dir=FIGURES,
            out_dir=f"{CNN}/sigma",
        ),
    threads: CNN_P["sigma"]["threads"]
    log:
        f"{LOGS}/cnn/sigma.log",
    conda:
        "../environment.yml"
    shell:
        NOTEBOOK_JOB


rule cnn_fig13:
    """Fig. 13: accuracy vs test-time M of trained RC-Spike and TTFS networks."""
    input:
        notebook="notebooks/fig13_test_time_m.ipynb",
        weights=[f"{m['run']}/weights.pt" for m in FIG13_MODELS],
    output:
        notebook=f"{CNN}/fig13/notebook.ipynb",
        numbers=f"{CNN}/fig13/fig13_numbers.json",
        figures=[f"{FIGURES}/fig13.pdf", f"{FIGURES}/fig13.png"],
    params:
        nb=pipeline.nb_params_json(
            "notebooks/fig13_test_time_m.ipynb",
            {k: v for k, v in CNN_P["fig13"].items() if k != "models"},
            models=FIG13_MODELS,
            fig_dir=FIGURES,
            out_dir=f"{CNN}/fig13",
        ),
        # per-run caches of the test-M curves; stale once a run was retrained
        clean=f"{CNN}/fig13/*__*.json",
    threads: CNN_P["fig13"]["threads"]
    log:
        f"{LOGS}/cnn/fig13.log",
    conda:
        "../environment.yml"
    shell:
        AGGREGATE_JOB
