"""figures/REPORT.md: per paper figure and table, the files made, the profile, and paper value
vs reproduced value and every claim as a verdict (pnnlib/pipeline/report.py). Included last: it reads what every stage registered."""

import json
import sys

REPORT_JOB = f"{sys.executable} -m pnnlib.pipeline.report" + (
    " --paper-values {input.paper_values:q} --manifest {params.manifest:q} --out {output:q} > {log:q} 2>&1"
)

REPORT_MANIFEST = {
    "profile": P["profile"],
    "profile_file": P["profile_file"],
    "results_dir": RESULTS,
    "figures_dir": FIGURES,
    "stages": STAGES,
    "paper_plan": PAPER_PLAN,
}


rule report:
    input:
        paper_values="config/paper_values.yaml",
        code="pnnlib/pipeline/report.py",
        made=[f for stage in STAGES.values() for f in stage["outputs"]],
        values=[f for stage in STAGES.values() for f in stage["values"]],
        paper_plan=PAPER_PLAN,
    output:
        f"{FIGURES}/REPORT.md",
    params:
        manifest=json.dumps(REPORT_MANIFEST, sort_keys=True),
    log:
        f"{LOGS}/report.log",
    conda:
        "../environment.yml"
    shell:
        REPORT_JOB
