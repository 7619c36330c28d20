"""Finished training runs: train a plan, read the runs of a results folder as a table, find one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pnnlib.train import TrainConfig, train

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["find_run", "load_runs", "run_plan"]


def run_plan(plan: Mapping[str, TrainConfig], root: str | Path) -> dict[str, dict[str, Any]]:
    """Train every run of ``plan`` into ``root/<run_id>`` (finished runs are read back, unfinished
    ones resume); returns ``{run_id: metrics}``."""
    root = Path(root)
    return {rid: train(cfg, root / rid) for rid, cfg in plan.items()}


def load_runs(root: str | Path, **where: Any) -> pd.DataFrame:
    """One row per finished run (``metrics.json`` with status ``done``) below ``root``.

    Columns: every config key, ``acc`` / ``acc_std`` (final test accuracy, mean and std over
    the ``n_eval`` evaluations, as fractions), ``history`` (list of per-epoch dicts) and ``path``.
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
        rows.append({**m["config"], "acc": m["final"]["acc"], "acc_std": m["final"]["acc_std"],
                     "history": m["history"], "path": str(path.parent)})
    columns = [*TrainConfig().to_dict(), "acc", "acc_std", "history", "path"]
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
