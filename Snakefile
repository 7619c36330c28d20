"""Reproduction pipeline of Sakemi et al., arXiv 2412.09010: every figure and table, and
figures/REPORT.md (paper value vs reproduced value).

    snakemake --cores 2                               # profile from config/config.yaml (quick)
    snakemake --cores 2 --config profile=smoke        # tiny sizes, a few minutes
    snakemake --cores 8 --config profile=paper        # the paper's settings
    snakemake -n --config profile=paper               # show what would run
    snakemake --profile profiles/slurm --config profile=paper   # on a SLURM cluster

Each experiment is a papermill execution of a notebook in notebooks/ (its parameters from the
profile's stage section); the executed notebook is kept as the run's log under
<results_dir>/<stage>/<run-id>/notebook.ipynb, its numbers in JSON beside it. Figure notebooks
aggregate those into <figures_dir>/*.pdf|png and <figures_dir>/tables/*.csv|md.

One rules/<stage>.smk per stage, listed in STAGE_NOTEBOOKS below with the notebooks it runs
and included only once they all exist (until then the report lists its figures as "not made by
this profile"). Each registers in STAGES what it makes:
    STAGES["<stage>"] = {"title": ..., "items": {"fig4": [files]}, "values": [json files],
                         "outputs": [every final file], "extensions": {"ext_...": [files]}}
("items": paper figure/table -> files; "values": what pnnlib.pipeline.report reads reproduced numbers
from; "outputs": what `rule all` asks for; optional "extensions": figures/tables beyond the paper). Settings: config/config.yaml (run settings) and
config/profiles/<profile>.yaml (one section per stage), checked against config/schema.yaml.
"""

from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import min_version

from pnnlib import pipeline

min_version("9.0")


configfile: "config/config.yaml"


# Validated settings: config.yaml + --config + config/profiles/<profile>.yaml (fails naming the key).
P = pipeline.load_profile(config, root=workflow.basedir)
# The paper profile's settings: which runs are paper scale, and the archive's paper-scale evidence.
PAPER = P if P["profile"] == "paper" else pipeline.load_profile({**config, "profile": "paper"}, root=workflow.basedir)
RESULTS = P["results_dir"]
FIGURES = P["figures_dir"]
TABLES = f"{FIGURES}/tables"
LOGS = f"{RESULTS}/logs"

# The shell command of every notebook rule: one papermill execution (pnnlib.pipeline.run_notebook)
# that checks the parameters against the notebook's parameters cell, pins torch threads to the
# rule's threads and keeps a failed run as *.failed.ipynb. TRAIN_JOB also drops a run directory's
# saved training state when the run's parameters changed (pnnlib.pipeline.reset_stale_run).
NOTEBOOK_JOB = pipeline.notebook_shell(P["kernel"], P["start_timeout"])
TRAIN_JOB = pipeline.notebook_shell(P["kernel"], P["start_timeout"], reset_stale=True)

# Filled by the rules files: stage -> {"title", "items": {paper item: [files]}, "values", "outputs"}.
STAGES = {}


# stage -> the notebooks its rules execute. A stage is wired when all of them exist; until then
# its figures are listed in the report as "not made by this profile" (no placeholder rules or figures).
STAGE_NOTEBOOKS = {
    "demo": ["notebooks/demo.ipynb"],
    "devices": ["notebooks/fig_devices.ipynb", "notebooks/fig_device_conditions.ipynb"],
    "dstd": ["notebooks/fig2_dstd_traces.ipynb", "notebooks/fig3_dstd_properties.ipynb"],
    "circuit": [
        "notebooks/fig_devices.ipynb",
        "notebooks/fig_device_conditions.ipynb",
        "notebooks/run_circuit_validation.ipynb",
        "notebooks/fig7_circuit.ipynb",
        "notebooks/run_circuit_conditions.ipynb",
        "notebooks/fig_circuit_conditions.ipynb",
    ],
    "mlp": ["notebooks/run_train.ipynb", "notebooks/fig4_mlp_fmnist.ipynb"],
    "cnn": [
        "notebooks/run_train.ipynb",
        "notebooks/fig5_vgg7_cifar10.ipynb",
        "notebooks/fig10_ttfs_cnn.ipynb",
        "notebooks/fig11b_12_sigma_sweeps.ipynb",
        "notebooks/fig13_test_time_m.ipynb",
    ],
}
MISSING = {s: [nb for nb in nbs if not Path(nb).exists()] for s, nbs in STAGE_NOTEBOOKS.items()}


include: "rules/common.smk"


for stage in STAGE_NOTEBOOKS:
    if not MISSING[stage]:

        include: f"rules/{stage}.smk"


include: "rules/report.smk"


if workflow.is_main_process:
    logger.info(pipeline.profile_banner(P, STAGES, MISSING))


localrules:
    all,
    paper_plan,
    report,


rule all:
    input:
        [f for stage in STAGES.values() for f in stage["outputs"]],
        f"{FIGURES}/REPORT.md",
    default_target: True
