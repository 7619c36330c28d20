"""Finished training runs: train a plan, read the runs of a results folder as a table, find one."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pnnlib.train import TrainConfig, train

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "acc_by_seed",
    "e_sweep_rows",
    "find_run",
    "load_runs",
    "run_plan",
    "runs_at_chance",
    "scale_of",
    "select",
    "summarise",
]


def run_plan(plan: Mapping[str, TrainConfig], root: str | Path) -> dict[str, dict[str, Any]]:
    """Train every run of ``plan`` into ``root/<run_id>`` (finished runs are read back, unfinished
    ones resume); returns ``{run_id: metrics}``."""
    root = Path(root)
    return {rid: train(cfg, root / rid) for rid, cfg in plan.items()}


def load_runs(root: str | Path, **where: Any) -> pd.DataFrame:
    """One row per finished run (``metrics.json`` with status ``done``) below ``root``.

    Columns: every config key, ``acc`` / ``acc_std`` (final test accuracy, mean and std over
    the ``n_eval`` evaluations, as fractions), ``silent_outputs`` (the output neurons that never
    fired in the final evaluation, :func:`pnnlib.train.evaluate`; ``None`` for a run that predates
    that record), ``history`` (list of per-epoch dicts), ``path``,
    ``run_id`` (the run directory's name), ``n_train``, ``n_classes`` and ``config`` (the dict).
    ``where`` filters on config values (e.g. ``model="mlp", dataset="fashion_mnist"``).
    """
    import pandas as pd  # here, so that importing the experiments needs no pandas (a bare GPU node)

    rows = []
    for path in sorted(Path(root).rglob("metrics.json")):
        m = json.loads(path.read_text())
        if m.get("status") != "done" or "config" not in m:
            continue
        if any(m["config"].get(k) != v for k, v in where.items()):
            continue
        rows.append(
            {
                **m["config"],
                "acc": m["final"]["acc"],
                "acc_std": m["final"]["acc_std"],
                "silent_outputs": m["final"].get("silent_outputs"),
                "history": m["history"],
                "path": str(path.parent),
                "run_id": path.parent.name,
                "n_train": m.get("n_train"),
                "n_classes": m.get("n_classes"),
                "config": m["config"],
            }
        )
    columns = [
        *TrainConfig().to_dict(),
        "acc",
        "acc_std",
        "silent_outputs",
        "history",
        "path",
        "run_id",
        "n_train",
        "n_classes",
        "config",
    ]
    return pd.DataFrame(rows, columns=columns)  # the columns exist even when no run is found


def find_run(runs: Any, **where: Any) -> str | None:
    """Path of the finished run with the lowest seed among those of ``runs`` (a
    :func:`pnnlib.experiments.load_runs` table) whose config matches ``where`` (floats compared
    with a tolerance); ``None`` when there is none."""
    if runs is None or not len(runs):
        return None
    mask = np.ones(len(runs), dtype=bool)
    for key, value in where.items():
        col = runs[key]
        mask &= np.isclose(col.astype(float), float(value)) if isinstance(value, float) else (col == value).to_numpy()
    sel = runs[mask]
    return str(sel.sort_values("seed").iloc[0]["path"]) if len(sel) else None


def select(runs: pd.DataFrame, **where: Any) -> pd.DataFrame:
    """The rows of a run table whose config matches ``where`` (floats compared with a tolerance)."""
    if runs.empty:
        return runs
    mask = np.ones(len(runs), dtype=bool)
    for key, value in where.items():
        col = runs[key]
        mask &= np.isclose(col.astype(float), float(value)) if isinstance(value, float) else (col == value).to_numpy()
    return runs[mask]


def acc_by_seed(runs: pd.DataFrame, **where: Any) -> dict[int, float]:
    """``{seed: final test accuracy in %}`` of the runs matching ``where``."""
    sel = select(runs, **where)
    return {int(r.seed): 100.0 * float(r.acc) for r in sel.itertuples()}


def runs_at_chance(runs: pd.DataFrame) -> bool:
    """Whether any of the runs is at chance (:func:`pnnlib.pipeline.claims.at_chance`)."""
    from pnnlib.pipeline.claims import at_chance

    return any(at_chance(float(r.acc), int(r.n_classes or 10)) for r in runs.itertuples())


def scale_of(runs: pd.DataFrame, paper_hashes: Mapping[str, str], source: str = "") -> Any:
    """The :class:`~pnnlib.pipeline.record.Scale` of a set of runs: ``paper`` when every run's
    config hash equals that of the paper profile's run of the same id (``paper_hashes``)."""
    from pnnlib.pipeline.archive import config_hash
    from pnnlib.pipeline.record import Scale

    configs = list(runs["config"]) if len(runs) else []
    paper = bool(configs) and all(
        paper_hashes.get(r.run_id) == config_hash(c) for r, c in zip(runs.itertuples(), configs)
    )
    return Scale.of_runs(configs, [int(r.n_train or 0) for r in runs.itertuples()], paper, source)


def summarise(runs: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Mean, std (ddof 0) and count of the final accuracy (in %) over seeds, grouped by ``by``."""
    import pandas as pd

    if runs.empty:
        return pd.DataFrame(columns=[*by, "mean", "std", "n"])
    g = runs.assign(pct=100 * runs["acc"]).groupby(list(by))["pct"]
    return g.agg(mean="mean", std=lambda s: float(np.std(s)), n="count").reset_index()


def e_sweep_rows(at_m: pd.DataFrame, m: int, ann: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of an accuracy-vs-|E| panel (Figs. 4f, 5d, 10e, 11, 12) at training M ``m``, with the
    ANN and scaled-ANN accuracies (%) of ``ann`` at the same |E|."""
    rows = []
    for r in summarise(at_m, ["e_pos"]).to_dict("records"):
        row = {"M": m, "|E|": r["e_pos"], "PNN (%)": r["mean"], "PNN std": r["std"], "seeds": r["n"]}
        for kind in ("ann", "scaled"):
            pt = next((p for p in ann.get(kind, []) if np.isclose(p["e"], r["e_pos"])), None)
            row[f"{kind} (%)"] = None if pt is None else 100 * pt["acc"]
        rows.append(row)
    return rows
