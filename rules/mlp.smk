"""Fashion-MNIST RC-Spike MLP (paper Fig. 4c-f, Fig. 11a, Fig. 14 left, Table 3 MLP rows).

The runs are planned by pnnlib.experiments.mlp.plan from the profile's `mlp` section (one
notebooks/run_train.ipynb execution per run, restored from archive/<profile>/mlp/ when it holds
the same run); the ANN baselines of each panel's |E| = 100 runs are a derived file of their own
(python -m pnnlib.experiments.baselines); notebooks/fig4_mlp_fmnist.ipynb only loads, plots and
records. With `mlp.paper_evidence`, the same figure notebook also runs on the paper-scale runs of
archive/paper/mlp/ (figures in <figures>/paper_scale/).
"""

from pnnlib.experiments import mlp as mlp_exp
from pnnlib.pipeline import archive

MLP = f"{RESULTS}/mlp"
MLP_P = P["mlp"]
MLP_PLAN = mlp_exp.plan(MLP_P)
MLP_FIG = MLP_P["figures"]
MLP_SETTINGS = {
    "sigma_main": MLP_P["grid"]["sigma"], "curve_e": MLP_P["grid"]["curve_e"], "curve_m": MLP_P["grid"]["curve_m"], "m_sweep_e": MLP_P["grid"]["m_sweep_e"],
    "e_sweep_m": MLP_P["grid"]["e_sweep_m"], "sigmas": MLP_P["grid"]["sigmas"], "sigma_m": MLP_P["grid"]["sigma_m"],
    "ann_e": MLP_FIG["ann_e"], "hist_m": MLP_FIG["hist_m"], "saturation_tol": MLP_FIG["saturation_tol"],
    "alphas": MLP_FIG["ann_alphas"],
}


def mlp_ann_runs(plan, settings, seeds):
    """Per training M of the |E| panels: the ANN run ids and the smaller |E| they are tested at."""
    out = {}
    for m in settings["e_sweep_m"]:
        at_m = {rid: c for rid, c in plan.items() if c.steps == m and c.offset == "random"
                and c.sigma == settings["sigma_main"]}
        runs = sorted(rid for rid, c in at_m.items() if c.e_pos == settings["ann_e"] and c.seed in seeds)
        test_e = sorted({c.e_pos for c in at_m.values() if c.e_pos < settings["ann_e"]})
        if runs and test_e:
            out[int(m)] = {"runs": runs, "e": test_e}
    return out


MLP_ANN = mlp_ann_runs(MLP_PLAN, MLP_SETTINGS, MLP_FIG["ann_seeds"])
MLP_FIGS = ["fig4", "fig11a", "fig14_mlp"]
MLP_TABLES = [f"{TABLES}/table3_mlp.md"]
MLP_RECORD = f"{MLP}/summary/record.json"
MLP_ITEMS = {"fig4": ["fig4"], "fig11": ["fig11a"], "fig14": ["fig14_mlp"]}

# Paper-scale evidence: the archived runs of the paper profile's MLP plan (same config hash).
MLP_PAPER_DIR = "archive/paper/mlp/runs"
if MLP_P["paper_evidence"] and P["profile"] != "paper":
    MLP_PAPER_P = PAPER["mlp"]
    MLP_PAPER_PLAN = mlp_exp.plan(MLP_PAPER_P)
    MLP_PAPER_RUNS = sorted(rid for rid, cfg in MLP_PAPER_PLAN.items()
                            if archive.find_run(cfg, "paper", "mlp", rid) is not None)
    MLP_PAPER_SETTINGS = {**MLP_SETTINGS, **{k: MLP_PAPER_P["grid"][k] for k in ("curve_e", "curve_m", "m_sweep_e", "e_sweep_m",
                                                                                  "sigmas", "sigma_m")},
                          "sigma_main": MLP_PAPER_P["grid"]["sigma"], "ann_e": MLP_PAPER_P["figures"]["ann_e"],
                          "alphas": MLP_PAPER_P["figures"]["ann_alphas"]}
    MLP_PAPER_ANN = {m: v for m, v in mlp_ann_runs({r: MLP_PAPER_PLAN[r] for r in MLP_PAPER_RUNS}, MLP_PAPER_SETTINGS,
                                                   MLP_PAPER_P["figures"]["ann_seeds"]).items()}
else:
    MLP_PAPER_RUNS, MLP_PAPER_ANN = [], {}
MLP_PAPER = f"{RESULTS}/mlp_paper"
MLP_PAPER_RECORD = f"{MLP_PAPER}/record.json"
MLP_PAPER_OUT = [f"{FIGURES}/paper_scale/{f}.{ext}" for f in MLP_FIGS for ext in ("pdf", "png")] if MLP_PAPER_RUNS else []

STAGES["mlp"] = {
    "title": f"Fashion-MNIST RC-Spike MLP ({len(MLP_PLAN)} training runs"
    + (f"; {len(MLP_PAPER_RUNS)} paper-scale runs from the archive)" if MLP_PAPER_RUNS else ")"),
    "items": {item: [f"{FIGURES}/{f}.{ext}" for f in figs for ext in ("pdf", "png")]
              + ([f"{FIGURES}/paper_scale/{f}.{ext}" for f in figs for ext in ("pdf", "png")] if MLP_PAPER_RUNS else [])
              for item, figs in MLP_ITEMS.items()} | {"table3": MLP_TABLES},
    "values": [MLP_RECORD] + ([MLP_PAPER_RECORD] if MLP_PAPER_RUNS else []),
    "outputs": [f"{FIGURES}/{f}.{ext}" for f in MLP_FIGS for ext in ("pdf", "png")] + MLP_TABLES + [MLP_RECORD]
    + ([MLP_PAPER_RECORD] + MLP_PAPER_OUT if MLP_PAPER_RUNS else []),
}


rule mlp_run:
    """One training run of the plan (restored from the archive when it holds it; resumes from its checkpoint)."""
    input:
        notebook="notebooks/run_train.ipynb",
    output:
        notebook=f"{MLP}/runs/{{run}}/notebook.ipynb",
        metrics=f"{MLP}/runs/{{run}}/metrics.json",
        weights=f"{MLP}/runs/{{run}}/weights.pt",
        hist=f"{MLP}/runs/{{run}}/spike_hist.npz",
    params:
        nb=lambda wc: pipeline.nb_params_json(
            "notebooks/run_train.ipynb", {}, config=MLP_PLAN[wc.run].to_dict(), out_dir=f"{MLP}/runs/{wc.run}",
            archive_profile=P["profile"], stage="mlp", recompute=RECOMPUTE,
        ),
        run_dir=lambda wc: f"{MLP}/runs/{wc.run}",
        resumable="epochs,num_threads,progress",
    wildcard_constraints:
        run="[A-Za-z0-9._-]+",
    threads: MLP_P["threads"]
    resources:
        gpu=MLP_P["gpus"],
    log:
        f"{LOGS}/mlp/{{run}}.log",
    conda:
        "../environment.yml"
    shell:
        TRAIN_JOB


def ann_rule_inputs(runs_dir, ann):
    return lambda wc: [f"{runs_dir}/{rid}/weights.pt" for rid in ann[int(wc.m)]["runs"]]


def ann_shell(runs_dir, ann, fig, archive_args):
    return lambda wc, output, threads: (
        f"{sys.executable} -m pnnlib.experiments.baselines --runs "
        + " ".join(f"{runs_dir}/{rid}" for rid in ann[int(wc.m)]["runs"])
        + " --e " + " ".join(f"{e:g}" for e in ann[int(wc.m)]["e"])
        + " --alphas " + " ".join(f"{a:g}" for a in fig["ann_alphas"])
        + f" --search-samples {fig['ann_search_samples']} --n-eval {fig['ann_n_eval']} --device {fig['device']}"
        + f" --threads {threads} --out {output[0]}" + archive_args + (" --recompute" if RECOMPUTE else "")
    )


rule mlp_ann:
    """The ANN and scaled-ANN baselines of the |E| = 100 runs at training M = {m} (Fig. 4f, Fig. 14)."""
    input:
        ann_rule_inputs(f"{MLP}/runs", MLP_ANN),
    output:
        f"{MLP}/derived/ann_m{{m}}.json",
    params:
        cmd=ann_shell(f"{MLP}/runs", MLP_ANN, MLP_FIG, ""),
    wildcard_constraints:
        m="[0-9]+",
    threads: MLP_FIG["threads"]
    log:
        f"{LOGS}/mlp/ann_m{{m}}.log",
    conda:
        "../environment.yml"
    shell:
        "{params.cmd} > {log:q} 2>&1"


rule mlp_paper_ann:
    """The ANN baselines of the archived paper-scale |E| = 100 runs (restored from archive/paper/mlp/derived/)."""
    input:
        ann_rule_inputs(MLP_PAPER_DIR, MLP_PAPER_ANN),
    output:
        f"{MLP_PAPER}/derived/ann_m{{m}}.json",
    params:
        cmd=ann_shell(MLP_PAPER_DIR, MLP_PAPER_ANN, MLP_FIG, " --archive paper mlp"),
    wildcard_constraints:
        m="[0-9]+",
    threads: MLP_FIG["threads"]
    log:
        f"{LOGS}/mlp/paper_ann_m{{m}}.log",
    conda:
        "../environment.yml"
    shell:
        "{params.cmd} > {log:q} 2>&1"


def mlp_figures_params(runs_dir, ann_dir, ann, settings, fig_dir, out_dir, source):
    return pipeline.nb_params_json(
        "notebooks/fig4_mlp_fmnist.ipynb", {}, runs_dir=runs_dir,
        ann_files={str(m): f"{ann_dir}/ann_m{m}.json" for m in ann}, settings=settings, paper_plan=PAPER_PLAN,
        hist_e=MLP_FIG["hist_e"], hist_seed=MLP_FIG["hist_seed"], fig14_e=MLP_FIG["fig14_e"], fig_dir=fig_dir,
        table_dir=TABLES if source == "this profile" else f"{fig_dir}/tables", out_dir=out_dir, source=source,
    )


rule mlp_figures:
    """Fig. 4c-f, Fig. 11a, Fig. 14 (left) and Table 3 (MLP rows) from this profile's runs."""
    input:
        notebook="notebooks/fig4_mlp_fmnist.ipynb",
        metrics=expand(f"{MLP}/runs/{{run}}/metrics.json", run=sorted(MLP_PLAN)),
        ann=[f"{MLP}/derived/ann_m{m}.json" for m in MLP_ANN],
        paper_plan=PAPER_PLAN,
    output:
        notebook=f"{MLP}/summary/notebook.ipynb",
        record=MLP_RECORD,
        figures=[f"{FIGURES}/{f}.{ext}" for f in MLP_FIGS for ext in ("pdf", "png")],
        tables=MLP_TABLES,
    params:
        nb=mlp_figures_params(f"{MLP}/runs", f"{MLP}/derived", MLP_ANN, MLP_SETTINGS, FIGURES, f"{MLP}/summary",
                              "this profile"),
    threads: MLP_FIG["threads"]
    log:
        f"{LOGS}/mlp/figures.log",
    conda:
        "../environment.yml"
    shell:
        NOTEBOOK_JOB


rule mlp_paper_figures:
    """The same figures from the archived paper-scale runs (archive/paper/mlp/runs)."""
    input:
        notebook="notebooks/fig4_mlp_fmnist.ipynb",
        metrics=[f"{MLP_PAPER_DIR}/{rid}/metrics.json" for rid in MLP_PAPER_RUNS],
        ann=[f"{MLP_PAPER}/derived/ann_m{m}.json" for m in MLP_PAPER_ANN],
        paper_plan=PAPER_PLAN,
    output:
        notebook=f"{MLP_PAPER}/notebook.ipynb",
        record=MLP_PAPER_RECORD,
        figures=MLP_PAPER_OUT,
        tables=[f"{FIGURES}/paper_scale/tables/table3_mlp.md"] if MLP_PAPER_RUNS else [],
    params:
        nb=mlp_figures_params(MLP_PAPER_DIR, f"{MLP_PAPER}/derived", MLP_PAPER_ANN,
                              MLP_PAPER_SETTINGS if MLP_PAPER_RUNS else MLP_SETTINGS, f"{FIGURES}/paper_scale",
                              MLP_PAPER, "archive/paper/mlp"),
    threads: MLP_FIG["threads"]
    log:
        f"{LOGS}/mlp/paper_figures.log",
    conda:
        "../environment.yml"
    shell:
        NOTEBOOK_JOB
