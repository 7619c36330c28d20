"""Parse ngspice ``wrdata`` output and extract spike times from waveforms.

``wrdata`` (with ``set wr_singlescale`` and ``set wr_vecnames``) writes one
header line of vector names and then whitespace-separated columns: the scale
(``time`` or ``v-sweep``) followed by one column per vector.  A nested DC sweep
(``dc inner ... outer ...``) is written as the inner sweep repeated for every
outer value, which :func:`split_nested` reshapes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def read_wrdata(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a ``wrdata`` file into ``{vector name: column}`` (scale first).

    Raises:
        ValueError: the file is empty, has no header or ragged rows.
    """
    path = Path(path)
    with open(path) as f:
        header = f.readline().split()
        if not header:
            raise ValueError(f"{path}: empty wrdata file (no header line)")
        data = np.loadtxt(f, ndmin=2)
    if data.size == 0:
        raise ValueError(f"{path}: wrdata file has a header but no data rows")
    if data.shape[1] != len(header):
        raise ValueError(f"{path}: {data.shape[1]} data columns but {len(header)} names in the header")
    return {name: data[:, k].copy() for k, name in enumerate(header)}


def split_nested(x: np.ndarray, *ys: np.ndarray) -> tuple[np.ndarray, ...]:
    """Reshape a nested DC sweep into ``(n_outer, n_inner)`` arrays.

    The inner sweep restarts wherever the scale ``x`` decreases.

    Returns:
        ``(x_inner, Y1, Y2, ...)`` with ``x_inner`` of shape ``(n_inner,)`` and
        each ``Yk`` of shape ``(n_outer, n_inner)``.
    """
    restarts = np.flatnonzero(np.diff(x) < 0) + 1
    n_inner = int(restarts[0]) if restarts.size else x.size
    if x.size % n_inner:
        raise ValueError(f"nested sweep of {x.size} points is not a multiple of {n_inner}")
    n_outer = x.size // n_inner
    return (x[:n_inner].copy(), *(y.reshape(n_outer, n_inner) for y in ys))


def crossings(t: np.ndarray, y: np.ndarray, level: float, rising: bool = True) -> np.ndarray:
    """Times at which ``y(t)`` crosses ``level``, linearly interpolated between samples.

    Args:
        t: increasing sample times.
        y: samples.
        level: threshold.
        rising: rising (``y`` goes from below to at/above ``level``) or falling crossings.
    """
    d = y - level
    if rising:
        k = np.flatnonzero((d[:-1] < 0) & (d[1:] >= 0))
    else:
        k = np.flatnonzero((d[:-1] > 0) & (d[1:] <= 0))
    frac = d[k] / (d[k] - d[k + 1])
    return t[k] + frac * (t[k + 1] - t[k])


def first_crossing(
    t: np.ndarray,
    y: np.ndarray,
    level: float,
    t_start: float,
    t_stop: float,
    rising: bool = True,
) -> float:
    """First crossing of ``level`` in ``[t_start, t_stop]`` (sub-step interpolated).

    A waveform already past the level at ``t_start`` counts as crossing at
    ``t_start``.  Returns ``nan`` when there is none.
    """
    y0 = float(np.interp(t_start, t, y))
    if (y0 >= level) if rising else (y0 <= level):
        return float(t_start)
    c = crossings(t, y, level, rising)
    c = c[(c >= t_start) & (c <= t_stop)]
    return float(c[0]) if c.size else float("nan")


def linear_fit(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """Least-squares line ``y = slope x + intercept`` over ``lo <= x <= hi``.

    Returns:
        ``(slope, intercept)``.
    """
    m = (x >= lo - 1e-12) & (x <= hi + 1e-12)
    if m.sum() < 2:
        raise ValueError(f"fewer than two points in the fit range [{lo}, {hi}]")
    slope, intercept = np.polyfit(x[m], y[m], 1)
    return float(slope), float(intercept)
