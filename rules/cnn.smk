"""Convolutional networks (paper Figs. 5, 10, 11b, 12, 13; Table 3 CNN rows).

The runs of the four families are planned by pnnlib.experiments.cnn.plan from the profile's `cnn`
section (one notebooks/run_train.ipynb execution per run, in <results>/cnn/<family>/<run-id>/,
restored from archive/<profile>/cnn/<family>/ when it holds the same run). Derived data are files
of their own: the ANN baselines of Figs. 5d and 10e (python -m pnnlib.experiments.baselines) and
the accuracy versus test-time M of each Fig. 13 model (python -m pnnlib.experiments.cnn test-m).
The figure notebooks only load, call pnnlib.experiments.cnn_records, plot and save a record:

* fig5_vgg7_cifar10.ipynb      — Fig. 5 (CIFAR-10 VGG7: curves, accuracy vs M and vs |E|, ANN);
* fig10_ttfs_cnn.ipynb         — Fig. 10 (TTFS CNN: traces, accuracy vs M and vs E⁺, ANN);
* fig11b_12_sigma_sweeps.ipynb — Fig. 11b, Fig. 12, Table 3 CNN rows (σ_spike sweeps);
* fig13_test_time_m.ipynb      — Fig. 13 (accuracy vs test-time M of trained MLP/VGG7/TTFS runs).
"""

from pnnlib.experiments import cnn as cnn_exp
from pnnlib.train.group import group_plan

CNN = f"{RESULTS}/cnn"
CNN_P = P["cnn"]
CNN_RUNS = cnn_exp.plan(CNN_P)
# family -> {group id: run ids} when runs are trained in groups (cnn.group_size > 1)
CNN_GROUPS = {f: group_plan(runs, CNN_P["group_size"]) for f, runs in CNN_RUNS.items()} if CNN_P["group_size"] > 1 else {}
CNN_SETTINGS = cnn_exp.figure_settings(CNN_P)
CNN_ANN = {fig: cnn_exp.ann_plan(CNN_P, fig) for fig in cnn_exp.ANN_FAMILIES}
# Fig. 13: the models' run directories (the MLP stage's or a CNN family's) and their test-time-M curve files
CNN_FIG13 = [
    {**m, "run_dir": f"{MLP}/runs/{m['run']}" if m["stage"] == "mlp" else f"{CNN}/{m['stage']}/{m['run']}",
     "curve": f"{CNN}/derived/test_m/{m['stage']}/{m['run']}.json"}
    for m in cnn_exp.fig13_models(CNN_P, {"mlp": MLP_PLAN if "mlp" in STAGES else {}, **CNN_RUNS})
]
CNN_TEST_M = {(m["stage"], m["run"]): m for m in CNN_FIG13}
CNN_ANN_FILES = {fig: {m: f"{CNN}/derived/{fig}_ann_m{m}.json" for m in ann} for fig, ann in CNN_ANN.items()}
CNN_FIGS = {"fig5": ["fig5"], "fig10": ["fig10"], "fig11": ["fig11b"], "fig12": ["fig12"], "fig13": ["fig13"]}
CNN_TABLES = [f"{TABLES}/table3_cnn.md"]
CNN_RECORDS = [f"{CNN}/{name}/record.json" for name in ("fig5", "fig10", "sigma", "fig13")]

STAGES["cnn"] = {
    "title": f"Convolutional networks ({sum(len(r) for r in CNN_RUNS.values())} training runs)",
    "items": {item: [f"{FIGURES}/{f}.{ext}" for f in figs for ext in ("pdf", "png")] for item, figs in CNN_FIGS.items()}
    | {"table3": CNN_TABLES},
    "values": CNN_RECORDS,
    "outputs": [f"{FIGURES}/{f}.{ext}" for figs in CNN_FIGS.values() for f in figs for ext in ("pdf", "png")]
    + CNN_TABLES
    + CNN_RECORDS,
}


if not CNN_GROUPS:

    rule cnn_run:
        """One CNN training run of a family's grid (restored from the archive when it holds it; resumes from its checkpoint)."""
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
                out_dir=f"{CNN}/{wc.family}/{wc.run}", stage=f"cnn/{wc.family}",
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

else:

    rule cnn_plan_file:
        """The plan of one family as JSON ({run id: TrainConfig keys}), read by its group jobs."""
        output:
            f"{CNN}/{{family}}/plan.json",
        params:
            plan=lambda wc: {rid: cfg.to_dict() for rid, cfg in CNN_RUNS[wc.family].items()},
        wildcard_constraints:
            family="|".join(CNN_RUNS),
        log:
            f"{LOGS}/cnn/{{family}}/plan.log",
        run:
            from pnnlib.io import write_json_atomic, write_text_atomic

            write_json_atomic(output[0], params.plan)
            write_text_atomic(log[0], f"{len(params.plan)} runs -> {output[0]}\n")

    for _family, _groups in CNN_GROUPS.items():
        for _gid, _members in _groups.items():

            rule:
                name:
                    f"cnn_group_{_family}_{_gid}"
                input:
                    plan=f"{CNN}/{_family}/plan.json",
                output:
                    [f"{CNN}/{_family}/{r}/{f}" for r in _members for f in ("metrics.json", "weights.pt", "spike_hist.npz")],
                params:
                    runs=" ".join(_members),
                    cuda_graph="--cuda-graph" if CNN_P["cuda_graph"] else "",
                threads: CNN_P["threads"]
                resources:
                    gpu=CNN_P["gpus"],
                log:
                    f"{LOGS}/cnn/{_family}/group_{_gid}.log",
                conda:
                    "../environment.yml"
                shell:
                    f"{sys.executable} -m pnnlib.pipeline.archive train-group --plan {{input.plan:q}} --runs {{params.runs}}"
                    f" --out-root {CNN}/{_family} --stage cnn/{_family} --threads {{threads}}"
                    + (" --recompute" if RECOMPUTE else "")
                    + " {params.cuda_graph} > {log:q} 2>&1"


rule cnn_ann:
    """The ANN and scaled-ANN baselines of {fig}'s |E| panel at training M = {m} (Fig. 5d, Fig. 10e)."""
    input:
        lambda wc: [f"{CNN}/{cnn_exp.ANN_FAMILIES[wc.fig]}/{rid}/weights.pt" for rid in CNN_ANN[wc.fig][int(wc.m)]["runs"]],
    output:
        f"{CNN}/derived/{{fig}}_ann_m{{m}}.json",
    params:
        cmd=lambda wc, output, threads: (
            f"{sys.executable} -m pnnlib.experiments.baselines --runs "
            + " ".join(f"{CNN}/{cnn_exp.ANN_FAMILIES[wc.fig]}/{rid}" for rid in CNN_ANN[wc.fig][int(wc.m)]["runs"])
            + " --e " + " ".join(f"{e:g}" for e in CNN_ANN[wc.fig][int(wc.m)]["e"])
            + " --alphas " + " ".join(f"{a:g}" for a in CNN_P[wc.fig]["ann_alphas"])
            + f" --search-samples {CNN_P[wc.fig]['ann_search_samples']} --n-eval {CNN_P[wc.fig]['ann_n_eval']}"
            + f" --device {CNN_P[wc.fig]['device']} --threads {threads} --out {output[0]}"
        ),
    wildcard_constraints:
        fig="|".join(cnn_exp.ANN_FAMILIES),
        m="[0-9]+",
    threads: lambda wc: CNN_P[wc.fig]["threads"]
    log:
        f"{LOGS}/cnn/{{fig}}_ann_m{{m}}.log",
    conda:
        "../environment.yml"
    shell:
        "{params.cmd} > {log:q} 2>&1"


rule cnn_test_m:
    """Accuracy versus test-time M of the trained run {run} of stage {stage} (Fig. 13; seeded evaluations)."""
    input:
        lambda wc: f"{CNN_TEST_M[(wc.stage, wc.run)]['run_dir']}/weights.pt",
    output:
        f"{CNN}/derived/test_m/{{stage}}/{{run}}.json",
    params:
        cmd=lambda wc, output, threads: (
            f"{sys.executable} -m pnnlib.experiments.cnn test-m --run {CNN_TEST_M[(wc.stage, wc.run)]['run_dir']}"
            + " --m " + " ".join(str(m) for m in CNN_P["fig13"]["test_m"])
            + f" --n-eval {CNN_P['fig13']['n_eval']} --device {CNN_P['fig13']['device']} --threads {threads}"
            + (f" --test-subset {CNN_P['fig13']['test_subset']}" if CNN_P["fig13"]["test_subset"] else "")
            + (f" --eval-batch {CNN_P['fig13']['eval_batch']}" if CNN_P["fig13"].get("eval_batch") else "")
            + f" --out {output[0]}"
        ),
    wildcard_constraints:
        stage="|".join(["mlp", *CNN_RUNS]),
        run="[A-Za-z0-9._-]+",
    threads: CNN_P["fig13"]["threads"]
    log:
        f"{LOGS}/cnn/test_m/{{stage}}/{{run}}.log",
    conda:
        "../environment.yml"
    shell:
        "{params.cmd} > {log:q} 2>&1"


rule cnn_fig5:
    """Fig. 5: RC-Spike VGG7 on CIFAR-10 (learning curves, accuracy vs M and vs |E|, ANN baselines)."""
    input:
        notebook="notebooks/fig5_vgg7_cifar10.ipynb",
        metrics=expand(f"{CNN}/vgg7_cifar10/{{run}}/metrics.json", run=sorted(CNN_RUNS["vgg7_cifar10"])),
        ann=list(CNN_ANN_FILES["fig5"].values()),
        paper_plan=PAPER_PLAN,
    output:
        notebook=f"{CNN}/fig5/notebook.ipynb",
        record=f"{CNN}/fig5/record.json",
        figures=[f"{FIGURES}/fig5.pdf", f"{FIGURES}/fig5.png"],
    params:
        nb=pipeline.nb_params_json(
            "notebooks/fig5_vgg7_cifar10.ipynb", {}, runs_dir=f"{CNN}/vgg7_cifar10", run_ids=sorted(CNN_RUNS["vgg7_cifar10"]),
            ann_files={str(m): f for m, f in CNN_ANN_FILES["fig5"].items()}, settings=CNN_SETTINGS["fig5"],
            paper_plan=PAPER_PLAN, fig_dir=FIGURES, out_dir=f"{CNN}/fig5",
        ),
    threads: CNN_P["fig5"]["threads"]
    log:
        f"{LOGS}/cnn/fig5.log",
    conda:
        "../environment.yml"
    shell:
        NOTEBOOK_JOB


rule cnn_fig10:
    """Fig. 10: TTFS CNN on Fashion-MNIST (membrane traces, accuracy vs M and vs E⁺, ANN baselines)."""
    input:
        notebook="notebooks/fig10_ttfs_cnn.ipynb",
        weights=expand(f"{CNN}/ttfs_cnn_fmnist/{{run}}/weights.pt", run=sorted(CNN_RUNS["ttfs_cnn_fmnist"])),
        ann=list(CNN_ANN_FILES["fig10"].values()),
        paper_plan=PAPER_PLAN,
    output:
        notebook=f"{CNN}/fig10/notebook.ipynb",
        record=f"{CNN}/fig10/record.json",
        figures=[f"{FIGURES}/fig10.pdf", f"{FIGURES}/fig10.png"],
    params:
        nb=pipeline.nb_params_json(
            "notebooks/fig10_ttfs_cnn.ipynb", {}, runs_dir=f"{CNN}/ttfs_cnn_fmnist",
            run_ids=sorted(CNN_RUNS["ttfs_cnn_fmnist"]), ann_files={str(m): f for m, f in CNN_ANN_FILES["fig10"].items()},
            settings=CNN_SETTINGS["fig10"], paper_plan=PAPER_PLAN, device=CNN_P["fig10"]["device"], fig_dir=FIGURES,
            out_dir=f"{CNN}/fig10",
        ),
    threads: CNN_P["fig10"]["threads"]
    log:
        f"{LOGS}/cnn/fig10.log",
    conda:
        "../environment.yml"
    shell:
        NOTEBOOK_JOB


rule cnn_sigma:
    """Fig. 11b, Fig. 12 and Table 3 (CNN rows): accuracy vs |E| per σ_spike of the three VGG7 families."""
    input:
        notebook="notebooks/fig11b_12_sigma_sweeps.ipynb",
        metrics=[f"{CNN}/{family}/{run}/metrics.json" for family in cnn_exp.SIGMA_FAMILIES
                 for run in sorted(CNN_RUNS[family])],
        paper_plan=PAPER_PLAN,
    output:
        notebook=f"{CNN}/sigma/notebook.ipynb",
        record=f"{CNN}/sigma/record.json",
        figures=[f"{FIGURES}/{name}.{ext}" for name in ("fig11b", "fig12") for ext in ("pdf", "png")],
        tables=CNN_TABLES,
    params:
        nb=pipeline.nb_params_json(
            "notebooks/fig11b_12_sigma_sweeps.ipynb", {}, runs_root=CNN,
            run_ids={family: sorted(CNN_RUNS[family]) for family in cnn_exp.SIGMA_FAMILIES},
            settings=CNN_SETTINGS["sigma"], paper_plan=PAPER_PLAN, fig_dir=FIGURES, table_dir=TABLES,
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
        curves=[m["curve"] for m in CNN_FIG13],
        metrics=[f"{m['run_dir']}/metrics.json" for m in CNN_FIG13],
        paper_plan=PAPER_PLAN,
    output:
        notebook=f"{CNN}/fig13/notebook.ipynb",
        record=f"{CNN}/fig13/record.json",
        figures=[f"{FIGURES}/fig13.pdf", f"{FIGURES}/fig13.png"],
    params:
        nb=pipeline.nb_params_json(
            "notebooks/fig13_test_time_m.ipynb", {},
            models=CNN_FIG13,
            settings=CNN_SETTINGS["fig13"], paper_plan=PAPER_PLAN, fig_dir=FIGURES, out_dir=f"{CNN}/fig13",
        ),
    threads: CNN_P["fig13"]["threads"]
    log:
        f"{LOGS}/cnn/fig13.log",
    conda:
        "../environment.yml"
    shell:
        NOTEBOOK_JOB
