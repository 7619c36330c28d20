r"""The Fashion-MNIST MLP experiments (paper Fig. 4c–f, Fig. 11a, Fig. 14 left, Table 3 MLP rows):
the grids of training runs, with every size a parameter (so that the ``smoke``, ``quick`` and
``paper`` profiles run the same code):

* Fig. 4c: learning curves at |E| ∈ {4, 1}, M ∈ {3, 15}, random vs fixed offset, several seeds;
* Fig. 4e: accuracy versus M for |E| ∈ {4, 2, 1}, both offset modes;
* Fig. 4f: accuracy versus |E| on a log grid 1 … 100 at M = 15 and M = 3 (random offset);
  the |E| = 100 runs are the "ANN" of the paper;
* Fig. 11a / Table 3: σ_spike ∈ {0, 0.005, 0.01, 0.02, 0.04} × the |E| grid, M = 10, random.

The paper's sweep values of |E| are not given (Table 3 lists 1.1 … 30.7, irregular, perhaps
random log-uniform draws, paper-spec §8 item 11); we use a log-spaced grid :data:`PAPER_E_GRID`
and a GP regression band as the paper does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pnnlib.pipeline.profiles import expand_grid
from pnnlib.train import TrainConfig

__all__ = ["ID_KEYS", "PAPER_E_GRID", "PAPER_SIGMAS", "mlp_grids", "mlp_plan"]

PAPER_E_GRID: tuple[float, ...] = tuple(float(e) for e in np.round(np.geomspace(1.0, 100.0, 15), 2))
"""|E| sweep: 15 log-spaced values from 1 to 100 (1, 1.39, 1.93, …, 71.97, 100)."""

PAPER_SIGMAS: tuple[float, ...] = (0.0, 0.005, 0.01, 0.02, 0.04)
"""σ_spike values of Appendix D (Fig. 11, Table 3)."""

ID_KEYS = ("e_pos", "steps", "offset", "sigma", "seed")
"""Config keys that vary across the MLP runs, in run-id order (``e4-m15-off_random-sig0.01-seed0``)."""


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
    runs = expand_grid(mlp_grids(**grid_sizes), fixed=dict(base or {}), id_keys=ID_KEYS)
    return {rid: TrainConfig.from_dict(params) for rid, params in runs.items()}
