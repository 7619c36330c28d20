r"""DSTD error: paper Figs. 2c–d and 3a–b (paper-spec §2.5, Theorem 1), pure functions the
notebooks call.

* :func:`trajectories` — Fig. 2c, d: membrane potential of an untrained RC-Spike layer with
  1000 uniform random input spikes on [0, 1], exact (:func:`pnnlib.core.neuron.rcspike_exact` at
  many :math:`t_{end}`) versus DSTD on its grid (:func:`pnnlib.core.dstd.rcspike_dstd_trajectory`).
* :func:`error_vs_grid` — Fig. 3a, b: :math:`\delta=\langle|v(1)-\hat v(1)|\rangle` over
  neurons × samples for a grid of M and |E|; :func:`error_slopes` fits the log–log slopes
  (Theorem 1: :math:`\delta=O(M^{-2}|E|^{-1})`).

Random layer (:func:`random_layer`): input times :math:`t_j\sim U[0,1]`, weights
:math:`w_{ij}\sim\mathcal N(\mu/N_{in},\ s^2/N_{in})`. Figs. 2–3a/b use μ = 0, s = 2, so the
ideal-limit :math:`v(1)=\sum_j w_{ij}(1-t_j)` has standard deviation :math:`2/\sqrt3\approx1.15`
independent of N_in. The reversal potentials add the conductance
:math:`f=\sum_j|w_{ij}|/|E|\approx 50/|E|` by the end of the window, which pulls v towards
:math:`g/f = |E|\sum_j w_{ij}/\sum_j|w_{ij}|` (≈ ±|E|/25 for zero-mean weights, whatever s):
v(1) spans about ±0.8 at |E| = 10 and ±0.1 at |E| = 1 — the narrowing of Fig. 2c.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pnnlib.bench.fit import fit_loglog_slope
from pnnlib.bench.harness import resolve_device
from pnnlib.core.dstd import rcspike_dstd, rcspike_dstd_trajectory
from pnnlib.core.neuron import rcspike_exact

__all__ = ["ERR_E", "ERR_STEPS", "error_slopes", "error_vs_grid", "random_layer", "trajectories", "trajectory_summary"]

#: Fig. 3a, b grids: M and |E| (|E| reaches past the leak scale ≈ 50, see :func:`error_slopes`).
ERR_STEPS = (2, 3, 4, 6, 10, 15, 20, 30, 50, 100)
ERR_E = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)


def random_layer(
    n_samples: int,
    n_in: int,
    n_out: int,
    *,
    w_mean: float = 0.0,
    w_scale: float = 2.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Untrained layer: times :math:`t\sim U[0,1]` ``[n_samples, n_in]`` and weights
    :math:`w\sim\mathcal N(w_{mean}/N_{in}, w_{scale}^2/N_{in})` ``[n_out, n_in]``."""
    gen = torch.Generator().manual_seed(seed)
    t_in = torch.rand(n_samples, n_in, generator=gen, dtype=torch.float64)
    weight = w_mean / n_in + w_scale / math.sqrt(n_in) * torch.randn(n_out, n_in, generator=gen, dtype=torch.float64)
    return t_in.to(device=device, dtype=dtype), weight.to(device=device, dtype=dtype)


# --------------------------------------------------------------------------- Fig. 2c, d


def trajectories(
    cases: Sequence[tuple[float, int]] = ((10.0, 4), (2.0, 4), (1.0, 4), (1.0, 3), (1.0, 6), (1.0, 10)),
    *,
    n_in: int = 1000,
    n_show: int = 5,
    w_scale: float = 2.0,
    offset: float = 0.0,
    n_points: int = 201,
    seed: int = 0,
) -> list[dict[str, Any]]:
    r"""Exact versus DSTD membrane trajectories of one sample (paper Fig. 2c, d).

    One random layer (:func:`random_layer`, float64) is shared by all cases; each case is
    ``(|E|, M)`` with :math:`E^\pm=\pm|E|` and a fixed grid offset (0 = the paper's figure).

    Returns:
        One dict per case: ``e``, ``steps``, ``offset``, ``t`` (``n_points`` times on [0, 1]),
        ``v_exact`` ``[n_points][n_show]``, ``grid`` (DSTD points :math:`T_m`), ``v_dstd``
        ``[K+1][n_show]``, and ``abs_err_v1`` (mean :math:`|v(1)-\hat v(1)|` over the neurons).
    """
    t_in, weight = random_layer(1, n_in, n_show, w_scale=w_scale, seed=seed)
    times = np.linspace(0.0, 1.0, n_points)
    out = []
    for e, steps in cases:
        v_exact = torch.cat(
            [rcspike_exact(t_in, weight, e, -e, t_end=float(t)) for t in times], 0
        )  # [n_points, n_show]
        grid, v_dstd = rcspike_dstd_trajectory(t_in, weight, e, -e, steps, offset)
        v_dstd = v_dstd[0]  # [K+1, n_show]
        out.append(
            {
                "e": float(e),
                "steps": int(steps),
                "offset": float(offset),
                "t": times.tolist(),
                "v_exact": v_exact.tolist(),
                "grid": grid.tolist(),
                "v_dstd": v_dstd.tolist(),
                "abs_err_v1": float((v_exact[-1] - v_dstd[-1]).abs().mean()),
            }
        )
    return out


def trajectory_summary(cases: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per case of :func:`trajectories`: |E|, M, the exact v(1) range over the drawn neurons and
    the mean final-value error |v(1) − v̂(1)| (the numbers Fig. 2c, d shows)."""
    return [
        {
            "e": c["e"],
            "steps": c["steps"],
            "v1_min": float(min(c["v_exact"][-1])),
            "v1_max": float(max(c["v_exact"][-1])),
            "abs_err_v1": c["abs_err_v1"],
        }
        for c in cases
    ]


# --------------------------------------------------------------------------- Fig. 3a, b


def error_vs_grid(
    steps_grid: Sequence[int],
    e_grid: Sequence[float],
    *,
    n_samples: int = 1000,
    n_in: int = 1000,
    n_out: int = 10,
    w_scale: float = 2.0,
    offset: float | None = 0.0,
    seed: int = 0,
    chunk: int = 100,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    r"""DSTD error :math:`\delta(M,|E|)=\langle|v(1)-\hat v(1)|\rangle` (paper Fig. 3a, b).

    The average runs over ``n_out`` neurons × ``n_samples`` samples of one random layer with
    ``n_in`` uniform input spikes (paper: 10 × 1000 × 1000), in float64 so that rounding stays
    far below δ. ``offset=0.0`` is the fixed grid; ``None`` draws a fresh random offset for each
    chunk of ``chunk`` samples (one per "mini-batch", as in training).

    Returns:
        ``{"steps", "e", "delta" [len(steps)][len(e)], "delta_sem" (standard error of the mean
        over samples), "f_bar", "settings"}``, where ``f_bar`` is the mean total synaptic
        conductance :math:`\bar f\,|E| = \langle\sum_j|w_{ij}|\rangle` (the late-time leak
        rate is :math:`\bar f = ` ``f_bar``/|E|; see :func:`error_slopes`).
    """
    device = resolve_device(device)
    t_all, weight = random_layer(n_samples, n_in, n_out, w_scale=w_scale, seed=seed, device=device)
    torch.manual_seed(seed)  # the random offsets
    delta = np.zeros((len(steps_grid), len(e_grid)))
    sem = np.zeros_like(delta)
    for j, e in enumerate(e_grid):
        exact = torch.cat([rcspike_exact(t, weight, e, -e) for t in t_all.split(chunk)], 0)
        for i, steps in enumerate(steps_grid):
            approx = torch.cat([rcspike_dstd(t, weight, e, -e, int(steps), offset) for t in t_all.split(chunk)], 0)
            per_sample = (approx - exact).abs().mean(1)
            delta[i, j] = float(per_sample.mean())
            sem[i, j] = float(per_sample.std() / math.sqrt(n_samples)) if n_samples > 1 else 0.0
    return {
        "steps": [int(m) for m in steps_grid],
        "e": [float(e) for e in e_grid],
        "delta": delta.tolist(),
        "delta_sem": sem.tolist(),
        "f_bar": float(weight.abs().sum(1).mean()),
        "settings": {
            "n_samples": n_samples,
            "n_in": n_in,
            "n_out": n_out,
            "w_scale": w_scale,
            "offset": "random" if offset is None else float(offset),
            "seed": seed,
            "dtype": "float64",
        },
    }


def error_slopes(err: dict[str, Any], *, m_min: float = 20, e_min: float = 100.0) -> dict[str, Any]:
    r"""Log–log slopes of :func:`error_vs_grid` over the asymptotic range (Theorem 1).

    * slope of δ versus M for each |E|, fitted over ``M ≥ m_min`` (theory −2);
    * slope of δ versus |E| for each M, fitted over ``|E| ≥ e_min`` (theory −1);
    * the constant C of the theory line :math:`\delta\approx C\,M^{-2}|E|^{-1}`: the geometric
      mean of :math:`\delta M^2|E|` over the points with ``M ≥ m_min`` and ``|E| ≥ e_min``.

    The asymptotic range is where Theorem 1's leading term dominates. Its small parameters are
    not 1/M and 1/|E| alone but the leak accumulated per grid step and over the window: with
    zero-mean random weights every input adds conductance :math:`|w_{ij}|/|E|`, so late in the
    window :math:`f\approx\bar f = \sum_j|w_{ij}|/|E|` (≈ 50/|E| for the default layer:
    N_in = 1000, s = 2, i.e. ``f_bar`` ≈ 50). The O(Δτ²) regime needs :math:`\bar f/M \ll 1`
    and the O(1/|E|) regime (first order in β, Appendix B.2) needs :math:`\bar f \ll 1`, i.e.
    |E| ≫ 50. Hence the defaults ``m_min = 20`` and ``e_min = 100``. Curves with fewer than two
    points in the range get ``None``.
    """
    steps = np.asarray(err["steps"], dtype=float)
    es = np.asarray(err["e"], dtype=float)
    delta = np.asarray(err["delta"], dtype=float)

    def slope(x: np.ndarray, y: np.ndarray, x_min: float) -> float | None:
        try:
            return fit_loglog_slope(x, y, x_min=x_min)[0]
        except ValueError:
            return None

    vs_m = {f"{e:g}": slope(steps, delta[:, j], m_min) for j, e in enumerate(es)}
    vs_e = {f"{int(m)}": slope(es, delta[i, :], e_min) for i, m in enumerate(steps)}
    asym = (steps[:, None] >= m_min) & (es[None, :] >= e_min) & (delta > 0)
    scaled = delta * steps[:, None] ** 2 * es[None, :]
    theory_c = float(np.exp(np.log(scaled[asym]).mean())) if asym.any() else None

    def mean(d: dict[str, float | None]) -> float | None:
        vals = [v for v in d.values() if v is not None]
        return float(np.mean(vals)) if vals else None

    return {
        "m_min": m_min,
        "e_min": e_min,
        "slope_vs_m": vs_m,
        "slope_vs_e": vs_e,
        "mean_slope_vs_m": mean(vs_m),
        "mean_slope_vs_e": mean(vs_e),
        "theory_c": theory_c,
    }
