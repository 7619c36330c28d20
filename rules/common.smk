"""Shared by the stages' rules: the paper profile's plan (which numbers rest on paper-scale runs,
and how much of the paper profile the committed archive holds) and the archive switch
(`--config recompute=true` retrains runs the archive holds)."""

import glob
import sys

RECOMPUTE = bool(P["recompute"])
PAPER_PLAN = f"{RESULTS}/paper_plan.json"


rule paper_plan:
    """The paper profile's config hashes per run and its coverage by archive/ (pnnlib.experiments.plans)."""
    input:
        "config/profiles/paper.yaml",
        glob.glob("archive/paper/**/provenance.json", recursive=True),
    output:
        PAPER_PLAN,
    log:
        f"{LOGS}/paper_plan.log",
    conda:
        "../environment.yml"
    shell:
        f"{sys.executable} -m pnnlib.experiments.plans hashes --out {{output:q}} > {{log:q}} 2>&1"
