"""The committed results archive: finished runs and derived results kept in the repository, so a
reader regenerates figures without recomputing them (the pattern of showyourwork's cached rules).

Layout (``archive/`` at the repository root, small files only)::

    archive/<profile>/<stage>/runs/<run-id>/   config.yaml, metrics.json, spike_hist.npz,
                                               weights.pt (when ≤ 4 MB), provenance.json
    archive/<profile>/<stage>/derived/<name>.json   results computed from runs (e.g. ANN baselines),
                                                    with the key of their inputs

``provenance.json`` records the git revision, device, torch version, machine, wall time and
epochs of the run and the SHA-256 of every archived file (checked on every restore: an edited
file is refused, naming it).

A training job asks :func:`restore_or_train`: when the archive holds a run of the same id and
:func:`config_hash` (every :class:`~pnnlib.train.TrainConfig` key that can change a result; not
the thread count, progress bars, data location or device) under any profile's folder (the hash
decides; the profile folder only sorts) and ``recompute`` is off, its files are copied into the
run directory instead of training; otherwise the run is trained. Derived results work the same
way (:func:`restore_or_compute`), keyed by the hash of their inputs.

Add finished runs with ``python -m pnnlib.pipeline.archive add RUN_DIR ... --profile paper
--stage mlp`` (or :func:`add_run`); ``python -m pnnlib.pipeline.archive list`` shows what is
there. ``python -m pnnlib.pipeline.archive train-group`` is the pipeline's job for a run group
(:func:`restore_or_train_group`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import platform
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pnnlib.io import atomic_path, read_json, sha256_file, write_json_atomic, write_text_atomic
from pnnlib.pipeline.profiles import REPO_ROOT
from pnnlib.train import TrainConfig, train

__all__ = [
    "ARCHIVE_ROOT",
    "NON_RESULT_KEYS",
    "WEIGHTS_MAX_BYTES",
    "ArchiveError",
    "add_run",
    "archived_runs",
    "config_hash",
    "find_run",
    "inputs_hash",
    "restore_or_compute",
    "restore_or_train",
    "restore_or_train_group",
]

log = logging.getLogger("pnnlib.archive")

ARCHIVE_ROOT = REPO_ROOT / "archive"

NON_RESULT_KEYS = frozenset({"num_threads", "progress", "data_dir", "download", "device"})
"""TrainConfig keys that do not enter :func:`config_hash`: they say where and how fast a run is
computed, not what it computes (the device actually used is in ``provenance.json``)."""

WEIGHTS_MAX_BYTES = 4 * 2**20
"""Weights larger than this stay out of the archive (the MLP's 1.9 MB do, a VGG7's 13 MB not)."""

RUN_FILES = ("config.yaml", "metrics.json", "spike_hist.npz")


class ArchiveError(ValueError):
    """An archived file does not match the hash recorded for it, or an entry is incomplete."""


def config_hash(config: TrainConfig | Mapping[str, Any]) -> str:
    """SHA-256 (16 hex digits) of the keys of a run's config that can change its result."""
    d = config.to_dict() if isinstance(config, TrainConfig) else TrainConfig.from_dict(dict(config)).to_dict()
    keep = {k: v for k, v in sorted(d.items()) if k not in NON_RESULT_KEYS}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def inputs_hash(inputs: Any) -> str:
    """SHA-256 (16 hex digits) of a JSON-serialisable description of a derived result's inputs."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _stage_dir(profile: str, stage: str, root: Path | None) -> Path:
    return (root or ARCHIVE_ROOT) / profile / stage


# --------------------------------------------------------------------------- runs


def add_run(
    run_dir: str | Path, profile: str, stage: str, *, root: Path | None = None, keep_weights: bool = True
) -> Path:
    """Copy a finished run into ``archive/<profile>/<stage>/runs/<run-id>/`` (run id = the run
    directory's name) with its provenance; returns the archive entry.

    Raises:
        ArchiveError: the run is not finished (``metrics.json`` without status ``done``) or lacks a file.
    """
    src = Path(run_dir)
    metrics_path = src / "metrics.json"
    if not metrics_path.is_file():
        raise ArchiveError(f"{src} holds no metrics.json: not a finished training run")
    metrics = read_json(metrics_path)
    if metrics.get("status") != "done":
        raise ArchiveError(f"{src}: the run is not finished (status {metrics.get('status')!r}); archive it when done")
    missing = [f for f in RUN_FILES if not (src / f).is_file()]
    if missing:
        raise ArchiveError(f"{src} lacks {missing}; archive a complete run directory")
    dst = _stage_dir(profile, stage, root) / "runs" / src.name
    dst.mkdir(parents=True, exist_ok=True)
    files = list(RUN_FILES)
    weights = src / "weights.pt"
    if keep_weights and weights.is_file() and weights.stat().st_size <= WEIGHTS_MAX_BYTES:
        files.append("weights.pt")
    for name in files:
        with atomic_path(dst / name) as tmp:
            shutil.copyfile(src / name, tmp)
    cfg = TrainConfig.from_yaml(dst / "config.yaml")
    history = metrics.get("history", [])
    provenance = {
        "run_id": src.name,
        "profile": profile,
        "stage": stage,
        "config_hash": config_hash(cfg),
        "git_revision": metrics.get("git_revision"),
        "device": metrics.get("device"),
        "torch_version": metrics.get("torch_version"),
        "epochs": len(history),
        "wall_s": round(sum(h.get("wall_s") or 0.0 for h in history), 1),
        "machine": metrics.get("machine") or f"{platform.machine()} {platform.processor() or ''}".strip(),
        "final_acc": metrics.get("final", {}).get("acc"),
        "files": {name: sha256_file(dst / name) for name in files},
    }
    write_json_atomic(dst / "provenance.json", provenance)
    log.info("archived %s -> %s (%s)", src, dst, ", ".join(files))
    return dst


def _verified(entry: Path) -> dict[str, Any]:
    """The provenance of an archive entry after checking every file against its recorded hash."""
    prov_path = entry / "provenance.json"
    if not prov_path.is_file():
        raise ArchiveError(
            f"{entry} has no provenance.json; re-add the run with `python -m pnnlib.pipeline.archive add`"
        )
    prov = read_json(prov_path)
    for name, digest in prov.get("files", {}).items():
        path = entry / name
        if not path.is_file() or sha256_file(path) != digest:
            raise ArchiveError(
                f"{path} is missing or does not match the SHA-256 recorded in {prov_path}; restore "
                "it from git (`git checkout -- archive/`) or re-add the run"
            )
    return prov


def archived_runs(profile: str, stage: str, *, root: Path | None = None) -> dict[str, Path]:
    """``{run_id: entry}`` of every run archived for a profile's stage (unverified listing)."""
    runs = _stage_dir(profile, stage, root) / "runs"
    return {p.name: p for p in sorted(runs.iterdir()) if (p / "provenance.json").is_file()} if runs.is_dir() else {}


def _entries(stage: str, relpath: str, profile: str | None, root: Path | None) -> list[Path]:
    """``archive/<profile>/<stage>/<relpath>`` of one profile, or of every profile (sorted by name)."""
    base = root or ARCHIVE_ROOT
    if profile is not None:
        return [_stage_dir(profile, stage, root) / relpath]
    return sorted(p / stage / relpath for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def find_run(
    cfg: TrainConfig,
    stage: str,
    run_id: str,
    *,
    profile: str | None = None,
    root: Path | None = None,
    need: Iterable[str] = (),
) -> Path | None:
    """The verified archive entry ``archive/<profile>/<stage>/runs/<run_id>/`` whose config hash
    equals ``cfg``'s and which holds every file in ``need`` (e.g. ``weights.pt``); else ``None``.

    The config hash decides, not the profile: with ``profile=None`` (the pipeline's use) every
    profile's folder is searched, so a run restores under any profile that plans the same run, and
    renaming or copying a profile file does not retrain anything."""
    for entry in _entries(stage, f"runs/{run_id}", profile, root):
        if not (entry / "provenance.json").is_file():
            continue
        prov = _verified(entry)
        if prov.get("config_hash") != config_hash(cfg):
            log.info("archive %s: config differs from the planned run, not used", entry)
            continue
        if all(name in prov.get("files", {}) for name in need):
            return entry
    return None


def restore_or_train(
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    stage: str,
    run_id: str | None = None,
    recompute: bool = False,
    need: Iterable[str] = ("weights.pt",),
    root: Path | None = None,
) -> dict[str, Any]:
    """The run's metrics: copied from the archive when it holds the same run (see the module
    docstring), else trained by :func:`pnnlib.train.train` into ``out_dir``."""
    out = Path(out_dir)
    run_id = run_id or out.name
    entry = None if recompute else find_run(cfg, stage, run_id, root=root, need=need)
    if entry is None:
        return train(cfg, out)
    prov = read_json(entry / "provenance.json")
    out.mkdir(parents=True, exist_ok=True)
    for name in prov["files"]:
        with atomic_path(out / name) as tmp:
            shutil.copyfile(entry / name, tmp)
    # the planned config (thread count, device setting) goes beside the archived one
    write_text_atomic(out / "restored_from.json", json.dumps({"archive": str(entry), **prov}, indent=2) + "\n")
    log.info(
        "%s: restored from the archive %s (trained on %s, %s epochs, git %s)",
        out,
        entry,
        prov.get("device"),
        prov.get("epochs"),
        prov.get("git_revision"),
    )
    return read_json(out / "metrics.json")


def restore_or_train_group(
    cfgs: Sequence[TrainConfig],
    outs: Sequence[str | Path],
    *,
    stage: str,
    recompute: bool = False,
    cuda_graph: bool = False,
    root: Path | None = None,
) -> list[dict[str, Any]]:
    """:func:`restore_or_train` for a run group: the runs the archive holds are restored, the
    others trained together by :func:`pnnlib.train.group.train_group` (each into its own run
    directory, the same files as alone). Returns the runs' metrics in the order given."""
    from pnnlib.train.group import train_group

    outs = [Path(o) for o in outs]
    held = [
        None if recompute else find_run(c, stage, o.name, root=root, need=("weights.pt",)) for c, o in zip(cfgs, outs)
    ]
    todo = [i for i, entry in enumerate(held) if entry is None]
    if todo:
        train_group([cfgs[i] for i in todo], [outs[i] for i in todo], cuda_graph=cuda_graph)
    return [restore_or_train(c, o, stage=stage, recompute=recompute, root=root) for c, o in zip(cfgs, outs)]


# --------------------------------------------------------------------------- derived results


def restore_or_compute(
    path: str | Path,
    inputs: Any,
    compute: Callable[[], Any],
    *,
    stage: str,
    name: str | None = None,
    recompute: bool = False,
    archive_as: str | None = None,
    root: Path | None = None,
) -> Any:
    """A derived result (JSON) written to ``path``: taken from ``archive/<any profile>/<stage>/
    derived/<name>.json`` when that file was made from the same ``inputs`` (:func:`inputs_hash`),
    else computed by ``compute()``; with ``archive_as=PROFILE`` a computed result is also stored in
    ``archive/PROFILE/<stage>/derived/<name>.json``."""
    path = Path(path)
    name = name or path.stem
    key = inputs_hash(inputs)
    if not recompute:
        for entry in _entries(stage, f"derived/{name}.json", None, root):
            if not entry.is_file():
                continue
            stored = read_json(entry)
            if stored.get("inputs_hash") == key:
                write_json_atomic(path, stored)
                log.info("%s: restored from the archive %s", path, entry)
                return stored["result"]
            log.info("archive %s: made from other inputs, not used", entry)
    result = compute()
    doc = {"inputs_hash": key, "inputs": inputs, "result": result}
    write_json_atomic(path, doc)
    if archive_as is not None:
        write_json_atomic(_stage_dir(archive_as, stage, root) / "derived" / f"{name}.json", doc)
    return result


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """``python -m pnnlib.pipeline.archive {add,list}``."""
    p = argparse.ArgumentParser(prog="python -m pnnlib.pipeline.archive", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="copy finished run directories into the archive")
    add.add_argument("run_dirs", nargs="+", type=Path)
    add.add_argument("--profile", required=True)
    add.add_argument("--stage", required=True)
    add.add_argument("--no-weights", action="store_true", help="leave weights.pt out")
    sub.add_parser("list", help="list the archived runs")
    grp = sub.add_parser("train-group", help="restore or train the runs of one group (a pipeline job)")
    grp.add_argument("--plan", type=Path, required=True, help="JSON mapping run id -> TrainConfig keys")
    grp.add_argument("--runs", nargs="+", required=True, metavar="ID", help="the group's run ids")
    grp.add_argument("--out-root", type=Path, required=True, help="run directories are <out-root>/<run id>")
    grp.add_argument("--stage", required=True)
    grp.add_argument("--recompute", action="store_true", help="train even what the archive holds")
    grp.add_argument("--cuda-graph", action="store_true", help="replay the group step from a CUDA graph")
    grp.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.command == "train-group":
        plan = read_json(args.plan)
        missing = [r for r in args.runs if r not in plan]
        if missing:
            raise SystemExit(f"{args.plan} has no runs {missing}")
        cfgs = [
            TrainConfig.from_dict({**plan[r], **({"num_threads": args.threads} if args.threads else {})})
            for r in args.runs
        ]
        restore_or_train_group(
            cfgs,
            [args.out_root / r for r in args.runs],
            stage=args.stage,
            recompute=args.recompute,
            cuda_graph=args.cuda_graph,
        )
        return 0
    if args.command == "add":
        for run_dir in args.run_dirs:
            add_run(run_dir, args.profile, args.stage, keep_weights=not args.no_weights)
        return 0
    for stage_dir in sorted(ARCHIVE_ROOT.glob("*/*")):
        for run_id, entry in archived_runs(stage_dir.parent.name, stage_dir.name).items():
            prov = read_json(entry / "provenance.json")
            acc = prov.get("final_acc")
            print(
                f"{stage_dir.parent.name}/{stage_dir.name}/{run_id}: {prov.get('epochs')} epochs on "
                f"{prov.get('device')}, {prov.get('wall_s')} s, git {prov.get('git_revision')}"
                + (f", final accuracy {100 * acc:.2f} %" if acc is not None else "")
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
