"""The paper's experiments, one module per stage: run plans, baselines and the statistics the
figures and claims rest on.

* :mod:`pnnlib.experiments.mlp` — the Fashion-MNIST MLP grids (Figs. 4, 11a, 14; Table 3);
* :mod:`pnnlib.experiments.cnn` — the CNN families (Figs. 5, 10, 11b, 12, 13; Table 3) and their
  derived data (test-time-M curves, membrane traces);
* :mod:`pnnlib.experiments.cnn_records` — the CNN stage's values, claims and tables;
* :mod:`pnnlib.experiments.baselines` — the ANN and scaled-ANN baselines;
* :mod:`pnnlib.experiments.runs` — training a plan, reading finished runs;
* :mod:`pnnlib.experiments.circuit_validation` — top-down vs bottom-up mapping on the sky130
  circuit (Figs. 6, 7, 15; Table 2).
"""

from typing import Any

from pnnlib.experiments.cnn import cnn_plan
from pnnlib.experiments.mlp import ID_KEYS, PAPER_E_GRID, PAPER_SIGMAS, mlp_grids, mlp_plan
from pnnlib.experiments.runs import find_run, load_runs, run_plan

__all__ = [
    "ID_KEYS",
    "PAPER_E_GRID",
    "PAPER_SIGMAS",
    "ann_curve",
    "cnn_plan",
    "find_run",
    "grid_search_scaling",
    "load_runs",
    "mlp_grids",
    "mlp_plan",
    "run_plan",
    "scale_weights",
    "scaled_ann_curve",
]

_BASELINES = ("ann_curve", "grid_search_scaling", "scale_weights", "scaled_ann_curve")


def __getattr__(name: str) -> Any:
    """The baselines' names, imported on first use (PEP 562): ``python -m
    pnnlib.experiments.baselines`` runs that module as ``__main__``, and importing it here first
    would load it twice (runpy's warning)."""
    if name in _BASELINES:
        from pnnlib.experiments import baselines

        return getattr(baselines, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
