r"""The Fashion-MNIST MLP experiments (paper Fig. 4c–f, Fig. 11a, Fig. 14 left, Table 3 MLP rows)
and the ANN / scaled-ANN baselines.

* :func:`mlp_grids` / :func:`mlp_plan` — the grid of training runs, with every size a parameter
  (so that the ``smoke``, ``quick`` and ``paper`` profiles run the same code):

  - Fig. 4c: learning curves at |E| ∈ {4, 1}, M ∈ {3, 15}, random vs fixed offset, several seeds;
  - Fig. 4e: accuracy versus M for |E| ∈ {4, 2, 1}, both offset modes;
  - Fig. 4f: accuracy versus |E| on a log grid 1 … 100 at M = 15 and M = 3 (random offset);
    the |E| = 100 runs are the "ANN" of the paper;
  - Fig. 11a / Table 3: σ_spike ∈ {0, 0.005, 0.01, 0.02, 0.04} × the |E| grid, M = 10, random.

  The paper's sweep values of |E| are not given (Table 3 lists 1.1 … 30.7, irregular, perhaps
  random log-uniform draws, paper-spec §8 item 11); we use a log-spaced grid
  :data:`PAPER_E_GRID` and a GP regression band as the paper does.
* :func:`run_plan` — train every run of a plan (sequentially; the pipeline runs them as jobs).
* :func:`load_runs` — a table of finished runs under a results directory.
* ANN baselines (paper-spec §4 "Ablations", Fig. 4f, Fig. 14): :func:`ann_curve` tests a network
  trained at |E| = 100 at smaller |E| (``set_reversal``); :func:`scaled_ann_curve` additionally
  scales its positive and negative weights by (α⁺, α⁻) (:func:`scale_weights`), chosen by
  :func:`grid_search_scaling` on training samples and reported on the test set.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from pnnlib import data as data_mod
from pnnlib import pipeline
from pnnlib.layers import SpikingLayer
from pnnlib.networks import SpikeNetwork
from pnnlib.train import TrainConfig, evaluate, load_model, resolve_device, train

__all__ = [
    "ID_KEYS",
    "PAPER_E_GRID",
    "PAPER_SIGMAS",
    "ann_curve",
    "grid_search_scaling",
    "load_runs",
    "mlp_grids",
    "mlp_plan",
    "run_plan",
    "scale_weights",
    "scaled_ann_curve",
]

PAPER_E_GRID: tuple[float, ...] = tuple(float(e) for e in np.round(np.geomspace(1.0, 100.0, 15), 2))
"""|E| sweep: 15 log-spaced values from 1 to 100 (1, 1.39, 1.93, …, 71.97, 100)."""

PAPER_SIGMAS: tuple[float, ...] = (0.0, 0.005, 0.01, 0.02, 0.04)
"""σ_spike values of Appendix D (Fig. 11, Table 3)."""

ID_KEYS = ("e_pos", "steps", "offset", "sigma", "seed")
"""Config keys that vary across the MLP runs, in run-id order (``e4-m15-off_random-sig0.01-seed0``)."""


# --------------------------------------------------------------------------- run plans


def mlp_grids(
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    sigma: float = 0.01,
    curve_e: Sequence[float] = (4.0, 1.0),
    curve_m: Sequence[int] = (3, 15),
    offsets: Sequence[str] = ("random", "fixed"),
    m_sweep_e: Sequence[float] = (4.0, 2.0, 1.0),
    m_sweep: Sequence[int] = (2, 3, 5, 10, 15, 20, 30),
    e_sweep: Sequence[float] = PAPER_E_GRID,
    e_sweep_m: Sequence[int] = (15, 3),
    sigmas: Sequence[float] = PAPER_SIGMAS,
    sigma_m: int = 10,
) -> dict[str, dict[str, list]]:
    """The named grids of Fig. 4c, 4e, 4f and 11a (values of :data:`ID_KEYS` per grid).

    Defaults are the paper's settings; the |E| = 100 point of ``e_sweep`` is the ANN baseline.
    An empty sequence drops that grid.
    """
    seeds = list(seeds)
    grids = {
        "fig4c": dict(e_pos=list(curve_e), steps=list(curve_m), offset=list(offsets), sigma=[sigma], seed=seeds),
        "fig4e": dict(e_pos=list(m_sweep_e), steps=list(m_sweep), offset=list(offsets), sigma=[sigma], seed=seeds),
        "fig4f": dict(e_pos=list(e_sweep), steps=list(e_sweep_m), offset=["random"], sigma=[sigma], seed=seeds),
        "fig11a": dict(e_pos=list(e_sweep), steps=[sigma_m], offset=["random"], sigma=list(sigmas), seed=seeds),
    }
    return {name: g for name, g in grids.items() if all(len(v) for v in g.values())}


def mlp_plan(base: Mapping[str, Any] | None = None, **grid_sizes: Any) -> dict[str, TrainConfig]:
    """``{run_id: TrainConfig}`` for the union of :func:`mlp_grids` (shared runs appear once).

    ``base`` holds the fixed keys (e.g. ``train_subset``, ``epochs`` of a profile; defaults: the
    paper's MLP of :class:`~pnnlib.train.TrainConfig`); ``grid_sizes`` go to :func:`mlp_grids`.
    """
    runs = pipeline.expand_grid(mlp_grids(**grid_sizes), fixed=dict(base or {}), id_keys=ID_KEYS)
    return {rid: TrainConfig.from_dict(params) for rid, params in runs.items()}


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


# --------------------------------------------------------------------------- ANN baselines


@contextlib.contextmanager
def scale_weights(model: torch.nn.Module, alpha_pos: float, alpha_neg: float) -> Iterator[torch.nn.Module]:
    r"""Temporarily scale every spiking layer's weights: :math:`w\to\alpha^+w` for w ≥ 0 and
    :math:`w\to\alpha^-w` for w < 0 (paper Fig. 14 / Fig. 15 test-time scaling). The original
    weights are restored on exit, also after an exception."""
    layers = [m for m in model.modules() if isinstance(m, SpikingLayer)]
    saved = [layer.weight.detach().clone() for layer in layers]
    try:
        with torch.no_grad():
            for layer in layers:
                w = layer.weight
                w.copy_(torch.where(w >= 0, w * alpha_pos, w * alpha_neg))
        yield model
    finally:
        with torch.no_grad():
            for layer, w0 in zip(layers, saved):
                layer.weight.copy_(w0)


def grid_search_scaling(
    objective: Callable[[float, float], float],
    alphas_pos: Sequence[float],
    alphas_neg: Sequence[float] | None = None,
    mode: str = "max",
) -> tuple[tuple[float, float, float], np.ndarray]:
    r"""Exhaustive search of the weight scaling (α⁺, α⁻) (paper Fig. 14, Fig. 15).

    Args:
        objective: ``(alpha_pos, alpha_neg) -> value`` (e.g. accuracy, or the model-versus-SPICE
            spike-time RMSE of the circuit mapping).
        alphas_pos: grid of α⁺.
        alphas_neg: grid of α⁻ for the 2-D search (ANN-to-IMC); ``None`` = 1-D search with
            α⁺ = α⁻ = α over ``alphas_pos`` (PNN-to-IMC, a single current scale).
        mode: ``"max"`` or ``"min"`` (ties: the first point in grid order).

    Returns:
        ``((best_alpha_pos, best_alpha_neg, best_value), landscape)``, the landscape with shape
        ``[len(alphas_pos), len(alphas_neg)]`` (``landscape[i, j] = objective(pos[i], neg[j])``)
        or ``[len(alphas_pos)]`` in 1-D.
    """
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    pos = [float(a) for a in alphas_pos]
    if alphas_neg is None:
        points = [(a, a) for a in pos]
        shape: tuple[int, ...] = (len(pos),)
    else:
        neg = [float(a) for a in alphas_neg]
        points = [(a, b) for a in pos for b in neg]
        shape = (len(pos), len(neg))
    if not points:
        raise ValueError("empty scaling grid")
    values = np.array([float(objective(a, b)) for a, b in points])
    best = int(np.argmax(values) if mode == "max" else np.argmin(values))
    return (points[best][0], points[best][1], float(values[best])), values.reshape(shape)


def _eval_at(model: SpikeNetwork, cfg: TrainConfig, t: torch.Tensor, y: torch.Tensor, n_classes: int,
             e: float, n_eval: int) -> dict[str, Any]:
    model.set_reversal(e)
    return evaluate(model, t, y, cfg, n_classes, n_eval=n_eval)


def _data_for(cfg: TrainConfig, search_samples: int, device: torch.device):
    d = data_mod.load_dataset(cfg.dataset, test_subset=cfg.test_subset, seed=cfg.seed, root=cfg.data_dir)
    search = data_mod.stratified_subset(d.train_y, min(search_samples, len(d.train_y)), cfg.seed + 2)
    flat = cfg.model in ("mlp", "iris_net")

    def prep(t: torch.Tensor) -> torch.Tensor:
        return (t.flatten(1) if flat else t).to(device)

    return (prep(d.test_t), d.test_y.to(device), prep(d.train_t[search]), d.train_y[search].to(device),
            d.n_classes)


def ann_curve(run_dir: str | Path, e_values: Sequence[float], n_eval: int = 5,
              device: str = "auto") -> list[dict[str, Any]]:
    """Test accuracy of a trained network (the "ANN": trained at |E| = 100) at each test |E|.

    Returns ``[{"e": |E|, "acc": mean, "acc_std": std}, …]`` on the run's test set, with the run's
    evaluation settings (``eval_steps``, ``eval_offset``, ``sigma``). ``device``: ``"auto"`` = CUDA
    when available.
    """
    dev = resolve_device(device)
    model, cfg = load_model(run_dir, dev)
    test_t, test_y, _, _, n_classes = _data_for(cfg, 1, dev)
    out = []
    for e in e_values:
        ev = _eval_at(model, cfg, test_t, test_y, n_classes, float(e), n_eval)
        out.append({"e": float(e), "acc": ev["acc"], "acc_std": ev["acc_std"]})
    return out


def scaled_ann_curve(
    run_dir: str | Path,
    e_values: Sequence[float],
    alphas_pos: Sequence[float],
    alphas_neg: Sequence[float] | None = None,
    search_samples: int = 2000,
    n_eval: int = 5,
    device: str = "auto",
) -> list[dict[str, Any]]:
    """The "scaled ANN" (paper Fig. 4f dashed, Fig. 14): at each test |E|, choose (α⁺, α⁻) by
    :func:`grid_search_scaling` maximising the accuracy on ``search_samples`` stratified
    **training** images (one evaluation per grid point), then report the test accuracy with it.

    Returns ``[{"e", "acc", "acc_std", "alpha_pos", "alpha_neg", "search_acc", "landscape"}, …]``
    (``landscape``: nested lists of search accuracies, as in :func:`grid_search_scaling`).
    [inferred] The paper does not say on which data the scaling was chosen; choosing it on
    training data keeps the test set unseen.
    """
    dev = resolve_device(device)
    model, cfg = load_model(run_dir, dev)
    test_t, test_y, s_t, s_y, n_classes = _data_for(cfg, search_samples, dev)
    out = []
    for e in e_values:
        e = float(e)

        def objective(a_pos: float, a_neg: float, e: float = e) -> float:
            with scale_weights(model, a_pos, a_neg):
                return _eval_at(model, cfg, s_t, s_y, n_classes, e, 1)["acc"]

        (a_pos, a_neg, s_acc), land = grid_search_scaling(objective, alphas_pos, alphas_neg)
        with scale_weights(model, a_pos, a_neg):
            ev = _eval_at(model, cfg, test_t, test_y, n_classes, e, n_eval)
        out.append({"e": e, "acc": ev["acc"], "acc_std": ev["acc_std"], "alpha_pos": a_pos, "alpha_neg": a_neg,
                    "search_acc": s_acc, "landscape": land.tolist()})
    return out
