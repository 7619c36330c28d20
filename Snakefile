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

One rules/<stage>.smk per stage. Each registers in STAGES what it makes:
    STAGES["<stage>"] = {"title": ..., "items": {"fig4": [files]}, "values": [json files]}
("items": paper figures/tables -> files; "values": what pnnlib.report reads the reproduced
numbers from). A stage whose notebook has not landed has no rules file; the report lists its
figures as not yet reproduced.
"""

import sys

from snakemake.logging import logger
from snakemake.utils import min_version

from pnnlib import pipeline

min_version("9.0")


configfile: "config/config.yaml"


# Validated settings: config.yaml + --config + config/profiles/<profile>.yaml (fails naming the key).
P = pipeline.load_profile(config, root=workflow.basedir)
RESULTS = P["results_dir"]
FIGURES = P["figures_dir"]
TABLES = f"{FIGURES}/tables"
LOGS = f"{RESULTS}/logs"

# One papermill execution as a job (pnnlib.pipeline.run_notebook): checks the parameters against
# the notebook's parameters cell, pins torch threads, keeps a failed run as *.failed.ipynb.
PAPERMILL = (
    f"{sys.executable} -m pnnlib.pipeline notebook --kernel {P['kernel']} "
    f"--start-timeout {P['start_timeout']}"
)

# Filled by the rules files: stage -> {"title", "items": {paper item: [files]}, "values": [files]}.
STAGES = {}


include: "rules/demo.smk"
include: "rules/report.smk"


if workflow.is_main_process:
    logger.info(pipeline.profile_banner(P, STAGES))


localrules:
    all,


rule all:
    input:
        [f for stage in STAGES.values() for f in stage["outputs"]],
        f"{FIGURES}/REPORT.md",
    default_target: True
