"""Every training run of a profile, by stage, and how much of the ``paper`` profile is at hand.

* :func:`stage_plans` — ``{stage: {run_id: TrainConfig}}`` of a profile's settings (the MLP plan
  of :func:`pnnlib.experiments.mlp.plan`, the CNN families' plans of
  :func:`pnnlib.experiments.cnn.plan` with ids ``<family>/<run id>``): what the rules train and
  ``bench paper-cost`` prices;
* :func:`paper_hashes` — the ``paper`` profile's ``{stage: {run_id: config hash}}``: a number is
  at paper scale when every run it rests on has its paper run's hash;
* :func:`coverage` — per paper figure/table, how many of the ``paper`` profile's runs it needs and
  how many the archive holds.

``python -m pnnlib.experiments.plans hashes --out FILE`` writes the paper hashes and the coverage
(a rule of the pipeline; the figure notebooks and the report read the file).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pnnlib.experiments import cnn, mlp
from pnnlib.io import write_json_atomic
from pnnlib.pipeline.archive import config_hash, find_run
from pnnlib.train import TrainConfig

__all__ = ["coverage", "paper_hashes", "stage_plans"]


def stage_plans(settings: Mapping[str, Any]) -> dict[str, dict[str, TrainConfig]]:
    """``{"mlp": {run_id: cfg}, "cnn": {"<family>/<run_id>": cfg}}`` of validated profile settings."""
    out: dict[str, dict[str, TrainConfig]] = {}
    if "mlp" in settings:
        out["mlp"] = mlp.plan(settings["mlp"])
    if "cnn" in settings:
        out["cnn"] = {
            f"{family}/{rid}": cfg for family, runs in cnn.plan(settings["cnn"]).items() for rid, cfg in runs.items()
        }
    return out


def paper_hashes(paper_settings: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """``{stage: {run_id: config hash}}`` of the ``paper`` profile's plans."""
    return {
        stage: {rid: config_hash(cfg) for rid, cfg in runs.items()}
        for stage, runs in stage_plans(paper_settings).items()
    }


def _archived(stage: str, rid: str, cfg: TrainConfig) -> bool:
    if stage == "cnn":
        family, run = rid.split("/", 1)
        return find_run(cfg, f"cnn/{family}", run, profile="paper") is not None
    return find_run(cfg, stage, rid, profile="paper") is not None


def coverage(paper_settings: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Per paper item, ``{"paper_runs": n, "archived": k}``: the ``paper`` profile's runs the item
    rests on, and how many of them the archive holds with the same config."""
    plans = stage_plans(paper_settings)
    needed: dict[str, set[tuple[str, str]]] = {}
    if "mlp" in paper_settings:
        for item, grids in mlp.ITEM_GRIDS.items():
            needed.setdefault(item, set()).update(("mlp", r) for r in mlp.grid_runs(paper_settings["mlp"], grids))
    if "cnn" in paper_settings:
        for item, pairs in cnn.ITEM_GRIDS.items():
            needed.setdefault(item, set()).update(("cnn", r) for r in cnn.grid_runs(paper_settings["cnn"], pairs))
    held = {(stage, rid) for stage, runs in plans.items() for rid, cfg in runs.items() if _archived(stage, rid, cfg)}
    return {item: {"paper_runs": len(runs), "archived": len(runs & held)} for item, runs in sorted(needed.items())}


def main(argv: list[str] | None = None) -> int:
    """``python -m pnnlib.experiments.plans hashes --out FILE [--profile paper]``."""
    from pnnlib.pipeline.profiles import load_profile

    p = argparse.ArgumentParser(prog="python -m pnnlib.experiments.plans", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    h = sub.add_parser("hashes", help="the paper profile's config hashes and its coverage by the archive")
    h.add_argument("--out", required=True, type=Path)
    h.add_argument("--profile", default="paper")
    args = p.parse_args(argv)
    settings = load_profile(
        {
            "profile": args.profile,
            "results_dir": "results/{profile}",
            "figures_dir": "figures",
            "kernel": "pnn-imc",
            "start_timeout": 300,
        }
    )
    write_json_atomic(
        args.out, {"profile": args.profile, "hashes": paper_hashes(settings), "coverage": coverage(settings)}
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
