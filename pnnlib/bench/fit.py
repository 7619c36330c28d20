r"""Power-law fits in log–log space (paper Fig. 3a, b; Table 1).

A power law :math:`y = C x^{p}` is a straight line :math:`\log_{10} y = p\log_{10}x + \log_{10}C`;
:func:`fit_loglog_slope` returns the least-squares ``(p, log10 C)`` over an optional
"asymptotic" range ``x_min ≤ x ≤ x_max``. Used for the DSTD error exponents of Theorem 1
(:math:`\delta = O(M^{-2}|E|^{-1})`, paper-spec §2.5) and for the measured scaling exponents of
the per-layer cost in Table 1 (paper-spec §2.1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["fit_loglog_slope", "loglog_line"]


def _range_mask(x: np.ndarray, x_min: float | None, x_max: float | None) -> np.ndarray:
    mask = np.ones(x.shape, dtype=bool)
    if x_min is not None:
        mask &= x >= x_min
    if x_max is not None:
        mask &= x <= x_max
    return mask


def fit_loglog_slope(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    x_min: float | None = None,
    x_max: float | None = None,
) -> tuple[float, float]:
    r"""Least-squares slope and intercept of :math:`\log_{10}y` against :math:`\log_{10}x`.

    Args:
        x, y: positive samples of :math:`y \approx C x^p` (non-finite or non-positive pairs are
            dropped).
        x_min, x_max: keep only ``x_min ≤ x ≤ x_max`` (the asymptotic range of the fit).

    Returns:
        ``(p, log10 C)``.

    Raises:
        ValueError: fewer than two usable points, or all usable x equal.
    """
    xa = np.asarray(x, dtype=float).ravel()
    ya = np.asarray(y, dtype=float).ravel()
    if xa.shape != ya.shape:
        raise ValueError(f"x and y must have the same length, got {xa.size} and {ya.size}")
    ok = np.isfinite(xa) & np.isfinite(ya) & (xa > 0) & (ya > 0) & _range_mask(xa, x_min, x_max)
    lx, ly = np.log10(xa[ok]), np.log10(ya[ok])
    if lx.size < 2 or np.ptp(lx) == 0:
        raise ValueError(
            f"need at least two distinct positive x in [{x_min}, {x_max}] to fit a slope, got {lx.size} usable points"
        )
    slope, intercept = np.polyfit(lx, ly, 1)
    return float(slope), float(intercept)


def loglog_line(x: Sequence[float] | np.ndarray, slope: float, intercept: float) -> np.ndarray:
    r"""Evaluate the fitted power law :math:`10^{\mathrm{intercept}}\,x^{\mathrm{slope}}`."""
    return 10.0**intercept * np.asarray(x, dtype=float) ** slope
