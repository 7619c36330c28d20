"""Response-surface search of the current scale (paper-spec §1.8, Fig. 15; package docstring,
step 4): SPICE at a small design of scales, per-spike quadratic fits, a 1 % grid search on the
fitted RMSE, re-centred designs while the optimum is on the design's edge, a SPICE confirmation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pnnlib.experiments.baselines import grid_search_scaling

from .readout import spike_rmse_ns

# --------------------------------------------------------------------------- scaling search


def _basis(u: np.ndarray, cross: bool = True) -> np.ndarray:
    """Quadratic basis of the scale offsets ``u`` ``[Q, d]``: 1-D (1, u, u²); 2-D (1, u, w, u², w²)
    and, with ``cross``, uw."""
    if u.shape[1] == 1:
        x = u[:, 0]
        return np.stack([np.ones_like(x), x, x**2], 1)
    x, y = u[:, 0], u[:, 1]
    return np.stack([np.ones_like(x), x, y, x**2, y**2, *([x * y] if cross else [])], 1)


def _grid(lo: float, hi: float, step: float) -> np.ndarray:
    n = int(round((hi - lo) / step))
    return np.round(lo + step * np.arange(n + 1), 6)


#: 2-D designs: the 3 x 3 factorial (full quadratic) or the 5-point star (no cross term).
DESIGNS_2D = ("full", "star")


def _design(
    center: tuple[float, float], step: float, two_d: bool, design_2d: str = "full"
) -> list[tuple[float, float]]:
    offsets = (-step, 0.0, step)
    if not two_d:
        return [(round(center[0] + a, 6),) * 2 for a in offsets]
    pairs = [(a, b) for a in offsets for b in offsets if design_2d == "full" or a == 0 or b == 0]
    return [(round(center[0] + a, 6), round(center[1] + b, 6)) for a, b in pairs]


def _surface_rmse(
    design: list[tuple[float, float]],
    t_spice: list[np.ndarray],
    center: tuple[float, float],
    dims: int,
    t_model: np.ndarray,
    t_circ: float,
) -> Any:
    """Fit every spike time of ``t_spice`` (one ``[S, N]`` array per design point) by a quadratic
    in the scale offset from ``center``; return ``(α⁺, α⁻) -> RMSE [ns]`` of ``t_model`` against
    the fitted spike times (clipped to [0, 1])."""
    u = np.array([[p[0] - center[0], p[1] - center[1]][:dims] for p in design])
    cross = len(design) >= 6  # the star design cannot resolve the cross term
    coef, *_ = np.linalg.lstsq(_basis(u, cross), np.stack([t.ravel() for t in t_spice]), rcond=None)
    target = t_model.ravel()

    def objective(a_pos: float, a_neg: float) -> float:
        uu = np.array([[a_pos - center[0], a_neg - center[1]][:dims]])
        fit = np.clip(_basis(uu, cross) @ coef, 0.0, 1.0)[0]
        return float(np.sqrt(np.mean(((target - fit) * t_circ * 1e9) ** 2)))

    return objective


@dataclass
class ScalingSearch:
    """Record of the response-surface scaling search (Fig. 15).

    Attributes:
        two_d: 2-D (α⁺, α⁻) or 1-D (α⁺ = α⁻) search.
        rounds: per round ``{"center", "design", "design_rmse_ns" (measured on the search
            samples), "alphas_pos", "alphas_neg" (the 1 % grid; ``None`` in 1-D), "landscape_ns"
            (fitted RMSE on the grid), "fitted_best", "fitted_best_ns", "at_edge"}``.
        measured: every scale simulated on the search samples → measured output RMSE [ns].
        chosen: the scale with the smallest measured RMSE (fitted optimum or a design point).
        samples: indices (into the simulated sample order) of the search samples.
        wall_s: wall time of the search [s].
    """

    two_d: bool
    rounds: list[dict[str, Any]] = field(default_factory=list)
    measured: dict[tuple[float, float], float] = field(default_factory=dict)
    chosen: tuple[float, float] = (1.0, 1.0)
    samples: int = 0
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "two_d": self.two_d,
            "rounds": self.rounds,
            "measured": [{"alpha_pos": a, "alpha_neg": b, "rmse_ns": r} for (a, b), r in self.measured.items()],
            "chosen": list(self.chosen),
            "samples": self.samples,
            "wall_s": self.wall_s,
        }


def scaling_search(
    simulate: Any,
    t_model_out: np.ndarray,
    *,
    two_d: bool,
    design_step: float,
    design_2d: str = "full",
    grid_step: float = 0.01,
    rounds: int = 4,
    t_circ: float = 1e-6,
    center: tuple[float, float] = (1.0, 1.0),
) -> ScalingSearch:
    """Response-surface search of the current scale (package docstring, step 4; paper §1.8, Fig. 15).

    Args:
        simulate: ``list[(α⁺, α⁻)] -> list[SPICE output spike times [S, N_out]]`` (clipped,
            no spike = 1) of the search samples, one array per scale.
        t_model_out: model output spike times of the search samples ``[S, N_out]``.
        two_d: 2-D search (top-down) or 1-D global scale (bottom-up).
        design_step: spacing of the design points (a multiple of ``grid_step``).
        design_2d: 2-D design, ``"full"`` (3 × 3, full quadratic) or ``"star"`` (centre and the
            4 axial points, quadratic without the cross term; for quick checks).
        grid_step: step of the grid searched on the fitted surface (paper: 1 %).
        rounds: most design rounds: while the fitted optimum is on the edge of the design range,
            re-centre the design there and repeat (1: a single design, no re-centring).
        t_circ: T_circ [s] for the RMSE in ns.
        center: (α⁺, α⁻) the first design is centred on (1-D: α⁺ is used for both); e.g. the scale
            chosen at another operating condition.
    """
    if design_2d not in DESIGNS_2D:
        raise ValueError(f"design_2d must be one of {DESIGNS_2D}, got {design_2d!r}")
    if not design_step > 0 or abs(design_step / grid_step - round(design_step / grid_step)) > 1e-6:
        raise ValueError(f"design_step {design_step} must be a positive multiple of grid_step {grid_step}")
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    start = time.perf_counter()
    out = ScalingSearch(two_d=two_d, samples=int(t_model_out.shape[0]))
    cache: dict[tuple[float, float], np.ndarray] = {}

    def run(points: list[tuple[float, float]]) -> None:
        todo = [p for p in points if p not in cache]
        for p, t in zip(todo, simulate(todo), strict=True):
            cache[p] = t
            out.measured[p] = spike_rmse_ns(t_model_out, t, t_circ)

    center = (float(center[0]),) * 2 if not two_d else (float(center[0]), float(center[1]))
    for round_no in range(rounds):
        design = _design(center, design_step, two_d, design_2d)
        if min(min(p) for p in design) <= 0:
            raise ValueError(f"design {design} has a non-positive scale; use a smaller design_step")
        run(design)
        dims = 2 if two_d else 1
        objective = _surface_rmse(design, [cache[p] for p in design], center, dims, t_model_out, t_circ)
        pos = _grid(center[0] - design_step, center[0] + design_step, grid_step)
        neg = _grid(center[1] - design_step, center[1] + design_step, grid_step) if two_d else None
        (a_pos, a_neg, best), land = grid_search_scaling(objective, pos, neg, mode="min")
        best_pt = (round(a_pos, 6), round(a_neg, 6))
        on_edge = any(
            abs(b - c) > design_step - grid_step / 2 for b, c in zip(best_pt[:dims], center[:dims], strict=True)
        )
        out.rounds.append(
            {
                "round": round_no,
                "center": list(center),
                "design": [list(p) for p in design],
                "design_rmse_ns": [out.measured[p] for p in design],
                "alphas_pos": pos.tolist(),
                "alphas_neg": None if neg is None else neg.tolist(),
                "landscape_ns": land.tolist(),
                "fitted_best": list(best_pt),
                "fitted_best_ns": best,
                "at_edge": bool(on_edge),
            }
        )
        if not on_edge:
            break
        center = best_pt
    run([best_pt])  # confirm the fitted optimum with real SPICE runs
    out.chosen = min(out.measured, key=lambda p: out.measured[p])
    out.wall_s = time.perf_counter() - start
    return out
