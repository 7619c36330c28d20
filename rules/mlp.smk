"""Fashion-MNIST RC-Spike MLP (paper Fig. 4c-f, Fig. 11a, Fig. 14 left, Table 3 MLP rows).

The runs are planned by pnnlib.experiments.mlp.plan from the profile's `mlp` section, each restored
from archive/<profile>/mlp/ when it holds the same run, else trained: one notebooks/run_train.ipynb
execution per run, or with `mlp.group_size` > 1 one job per run group (python -m
pnnlib.pipeline.archive train-group: G runs trained as one stacked network, each into its own run
directory). The ANN baselines of each |E| panel are a derived file of their own (python -m
pnnlib.experiments.baselines); notebooks/fig4_mlp_fmnist.ipynb only loads, plots and records.
With `mlp.paper_evidence`, the same figure notebook also runs on the paper-scale runs of
archive/paper/mlp/ (figures in <figures>/paper_scale/).
"""

from pnnlib.experiments import mlp as mlp_exp
from pnnlib.pipeline import archive
from pnnlib.train.group import group_plan

MLP = f"{RESULTS}/mlp"
MLP_P = P["mlp"]
MLP_PLAN = mlp_exp.plan(MLP_P)
MLP_FIG = MLP_P["figures"]
MLP_SETTINGS = mlp_exp.figure_settings(MLP_P)
MLP_ANN = mlp_exp.ann_plan(MLP_P)
MLP_GROUPS = group_plan(MLP_PLAN, MLP_P["group_size"]) if MLP_P["group_size"] > 1 else {}
MLP_FIGS = ["fig4", "fig11a", "fig14_mlp"]
MLP_ITEMS = {"fig4": ["fig4"], "fig11": ["fig11a"], "fig14": ["fig14_mlp"]}
MLP_RECORD = f"{MLP}/summary/record.json"

# Paper-scale evidence: the archived runs of the paper profile's MLP plan (same config hash).
MLP_PAPER = f"{RESULTS}/mlp_paper"
MLP_PAPER_DIR = "archive/paper/mlp/runs"
MLP_PAPER_PLAN = mlp_exp.plan(PAPER["mlp"])
MLP_PAPER_RUNS = sorted(
    rid for rid, cfg in MLP_PAPER_PLAN.items() if archive.find_run(cfg, "mlp", rid, profile="paper") is not None
) if MLP_P["paper_evidence"] and P["profile"] != "paper" else []
MLP_PAPER_ANN = mlp_exp.ann_plan(PAPER["mlp"], {r: MLP_PAPER_PLAN[r] for r in MLP_PAPER_RUNS})
MLP_PAPER_OUT = [f"{FIGURES}/paper_scale/{f}.{ext}" for f in MLP_FIGS for ext in ("pdf", "png")]
MLP_PAPER_TABLES = [f"{FIGURES}/paper_scale/tables/table3_mlp.md"]

STAGES["mlp"] = {
    "title": f"Fashion-MNIST RC-Spike MLP ({len(MLP_PLAN)} training runs"
    + (f"; {len(MLP_PAPER_RUNS)} paper-scale runs from the archive)" if MLP_PAPER_RUNS else ")"),
    "items": {item: [f"{FIGURES}/{f}.{ext}" for f in figs for ext in ("pdf", "png")]
              + ([f"{FIGURES}/paper_scale/{f}.{ext}" for f in figs for ext in ("pdf", "png")] if MLP_PAPER_RUNS else [])
              for item, figs in MLP_ITEMS.items()}
    | {"table3": [f"{TABLES}/table3_mlp.md"] + (MLP_PAPER_TABLES if MLP_PAPER_RUNS else [])},
    "values": [MLP_RECORD] + ([f"{MLP_PAPER}/record.json"] if MLP_PAPER_RUNS else []),
    "outputs": [f"{FIGURES}/{f}.{ext}" for f in MLP_FIGS for ext in ("pdf", "png")] + [f"{TABLES}/table3_mlp.md",
                                                                                        MLP_RECORD]
    + ([f"{MLP_PAPER}/record.json"] + MLP_PAPER_OUT + MLP_PAPER_TABLES if MLP_PAPER_RUNS else []),
}

if not MLP_GROUPS:

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
                stage="mlp", recompute=RECOMPUTE,
            ),
            run_dir=lambda wc: f"{MLP}/runs/{wc.run}",
            resumable="epochs,num_threads,progress,kernel",
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

else:

    rule mlp_plan_file:
        """The plan as JSON ({run id: TrainConfig keys}), read by the group jobs."""
        output:
            f"{MLP}/plan.json",
        params:
            plan={rid: cfg.to_dict() for rid, cfg in MLP_PLAN.items()},
        log:
            f"{LOGS}/mlp/plan.log",
        run:
            from pnnlib.io import write_json_atomic, write_text_atomic

            write_json_atomic(output[0], params.plan)
            write_text_atomic(log[0], f"{len(params.plan)} runs in {len(MLP_GROUPS)} groups -> {output[0]}\n")

    for _gid, _members in MLP_GROUPS.items():

        rule:
            name:
                f"mlp_group_{_gid}"
            input:
                plan=f"{MLP}/plan.json",
            output:
                [f"{MLP}/runs/{r}/{f}" for r in _members for f in ("metrics.json", "weights.pt", "spike_hist.npz")],
            params:
                runs=" ".join(_members),
                cuda_graph="--cuda-graph" if MLP_P["cuda_graph"] else "",
            threads: MLP_P["threads"]
            resources:
                gpu=MLP_P["gpus"],
            log:
                f"{LOGS}/mlp/group_{_gid}.log",
            conda:
                "../environment.yml"
            shell:
                f"{sys.executable} -m pnnlib.pipeline.archive train-group --plan {{input.plan:q}} --runs {{params.runs}}"
                f" --out-root {MLP}/runs --stage mlp --threads {{threads}}"
                + (" --recompute" if RECOMPUTE else "")
                + " {params.cuda_graph} > {log:q} 2>&1"


rule mlp_ann:
    """The ANN and scaled-ANN baselines of the |E| = 100 runs at training M = {m} (Fig. 4f, Fig. 14)."""
    input:
        lambda wc: [f"{MLP}/runs/{rid}/weights.pt" for rid in MLP_ANN[int(wc.m)]["runs"]],
    output:
        f"{MLP}/derived/ann_m{{m}}.json",
    params:
        cmd=lambda wc, output, threads: (
            f"{sys.executable} -m pnnlib.experiments.baselines --runs "
            + " ".join(f"{MLP}/runs/{rid}" for rid in MLP_ANN[int(wc.m)]["runs"])
            + " --e " + " ".join(f"{e:g}" for e in MLP_ANN[int(wc.m)]["e"])
            + " --alphas " + " ".join(f"{a:g}" for a in MLP_FIG["ann_alphas"])
            + f" --search-samples {MLP_FIG['ann_search_samples']} --n-eval {MLP_FIG['ann_n_eval']}"
            + f" --device {MLP_FIG['device']} --threads {threads} --out {output[0]}"
            + (" --recompute" if RECOMPUTE else "")
        ),
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
        lambda wc: [f"{MLP_PAPER_DIR}/{rid}/weights.pt" for rid in MLP_PAPER_ANN[int(wc.m)]["runs"]],
    output:
        f"{MLP_PAPER}/derived/ann_m{{m}}.json",
    params:
        cmd=lambda wc, output, threads: (
            f"{sys.executable} -m pnnlib.experiments.baselines --runs "
            + " ".join(f"{MLP_PAPER_DIR}/{rid}" for rid in MLP_PAPER_ANN[int(wc.m)]["runs"])
            + " --e " + " ".join(f"{e:g}" for e in MLP_PAPER_ANN[int(wc.m)]["e"])
            + " --alphas " + " ".join(f"{a:g}" for a in PAPER["mlp"]["figures"]["ann_alphas"])
            + f" --search-samples {PAPER['mlp']['figures']['ann_search_samples']}"
            + f" --n-eval {PAPER['mlp']['figures']['ann_n_eval']} --device {MLP_FIG['device']} --threads {threads}"
            + f" --out {output[0]} --archive paper mlp" + (" --recompute" if RECOMPUTE else "")
        ),
    wildcard_constraints:
        m="[0-9]+",
    threads: MLP_FIG["threads"]
    log:
        f"{LOGS}/mlp/paper_ann_m{{m}}.log",
    conda:
        "../environment.yml"
    shell:
        "{params.cmd} > {log:q} 2>&1"


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
        tables=[f"{TABLES}/table3_mlp.md"],
    params:
        nb=pipeline.nb_params_json(
            "notebooks/fig4_mlp_fmnist.ipynb", {}, runs_dir=f"{MLP}/runs",
            ann_files={str(m): f"{MLP}/derived/ann_m{m}.json" for m in MLP_ANN}, settings=MLP_SETTINGS,
            paper_plan=PAPER_PLAN, hist_e=MLP_FIG["hist_e"], hist_seed=MLP_FIG["hist_seed"],
            fig14_e=MLP_FIG["fig14_e"], fig_dir=FIGURES, table_dir=TABLES, out_dir=f"{MLP}/summary",
            source="this profile",
        ),
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
        record=f"{MLP_PAPER}/record.json",
        figures=MLP_PAPER_OUT,
        tables=MLP_PAPER_TABLES,
    params:
        nb=pipeline.nb_params_json(
            "notebooks/fig4_mlp_fmnist.ipynb", {}, runs_dir=MLP_PAPER_DIR,
            ann_files={str(m): f"{MLP_PAPER}/derived/ann_m{m}.json" for m in MLP_PAPER_ANN},
            settings=mlp_exp.figure_settings(PAPER["mlp"]), paper_plan=PAPER_PLAN, hist_e=MLP_FIG["hist_e"],
            hist_seed=MLP_FIG["hist_seed"], fig14_e=MLP_FIG["fig14_e"], fig_dir=f"{FIGURES}/paper_scale",
            table_dir=f"{FIGURES}/paper_scale/tables", out_dir=MLP_PAPER, source="archive/paper/mlp",
        ),
    threads: MLP_FIG["threads"]
    log:
        f"{LOGS}/mlp/paper_figures.log",
    conda:
        "../environment.yml"
    shell:
        NOTEBOOK_JOB
