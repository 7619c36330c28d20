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
(a rule of the pipeline; the figure notebooks and the report read the file). ``plans list`` prints
a stage's run ids (``*`` marks the archived ones) and ``plans train RUN_ID ...`` trains runs of a
plan outside the pipeline, one after another, each resumed from its checkpoint, optionally adding
each finished run to the archive (``--archive``): how ``archive/paper/mlp`` is filled on a CPU::

    python -m pnnlib.experiments.plans list --stage mlp --match m15-off_random-sig0.01
    python -m pnnlib.experiments.plans train --stage mlp --threads 1 --archive e2-m15-off_random-sig0.01-seed0
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

__all__ = ["coverage", "paper_hashes", "stage_plans", "train_runs"]


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


def train_runs(
    plan: Mapping[str, TrainConfig],
    run_ids: list[str],
    out_root: Path,
    *,
    profile: str,
    stage: str,
    threads: int | None = None,
    archive_root: Path | None = None,
) -> list[Path]:
    """Train the runs ``run_ids`` of ``plan`` into ``out_root/<run id>`` one after another (each
    resumes from its checkpoint; a finished one is not retrained) and, with ``archive_root``, add
    each to ``archive_root/<profile>/<stage>/`` as soon as it is finished (unless that holds it
    already). Returns the run directories.

    Raises:
        KeyError: a run id is not in the plan (all unknown ids named, before anything trains).
    """
    from pnnlib.pipeline.archive import add_run, archived_runs
    from pnnlib.train import train

    unknown = [r for r in run_ids if r not in plan]
    if unknown:
        raise KeyError(
            f"not in the {profile} profile's {stage} plan: {', '.join(unknown)} "
            f"(python -m pnnlib.experiments.plans list --profile {profile} --stage {stage} lists its ids)"
        )
    out = []
    for rid in run_ids:
        cfg = plan[rid] if threads is None else TrainConfig.from_dict({**plan[rid].to_dict(), "num_threads": threads})
        train(cfg, out_root / rid)
        if archive_root is not None and rid not in archived_runs(profile, stage, root=archive_root):
            add_run(out_root / rid, profile, stage, root=archive_root)
        out.append(out_root / rid)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m pnnlib.experiments.plans hashes --out FILE | list --stage S | train --stage S RUN_ID ...``."""
    import logging

    from pnnlib.pipeline.archive import ARCHIVE_ROOT, archived_runs
    from pnnlib.pipeline.profiles import load_profile

    p = argparse.ArgumentParser(prog="python -m pnnlib.experiments.plans", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    h = sub.add_parser("hashes", help="the paper profile's config hashes and its coverage by the archive")
    h.add_argument("--out", required=True, type=Path)
    h.add_argument("--profile", default="paper")
    ls = sub.add_parser("list", help="a stage's run ids (* = in the archive)")
    tr = sub.add_parser("train", help="train runs of a plan one after another (resumed from checkpoints)")
    for q in (ls, tr):
        q.add_argument("--profile", default="paper")
        q.add_argument("--stage", required=True, choices=["mlp", "cnn"])
        q.add_argument("--archive-root", type=Path, default=ARCHIVE_ROOT, help="the archive (default: archive/)")
    ls.add_argument("--match", default="", help="only ids containing this text")
    tr.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    tr.add_argument("--out-root", type=Path, default=None, help="default: results/<profile>/<stage>/runs")
    tr.add_argument("--threads", type=int, default=None, help="torch CPU threads per run")
    tr.add_argument("--archive", action="store_true", help="add each finished run to the archive")
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
    if args.command == "hashes":
        write_json_atomic(
            args.out, {"profile": args.profile, "hashes": paper_hashes(settings), "coverage": coverage(settings)}
        )
        return 0
    plan = stage_plans(settings)[args.stage]
    held = archived_runs(args.profile, args.stage, root=args.archive_root)
    if args.command == "list":
        for rid in plan:
            if args.match in rid:
                print(f"{'*' if rid in held else ' '} {rid}")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        train_runs(
            plan,
            args.run_ids,
            args.out_root or Path(f"results/{args.profile}/{args.stage}/runs"),
            profile=args.profile,
            stage=args.stage,
            threads=args.threads,
            archive_root=args.archive_root if args.archive else None,
        )
    except KeyError as e:
        p.error(e.args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
