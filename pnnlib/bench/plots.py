r"""Figures of the DSTD benchmark: paper Fig. 2c, d and Fig. 3a–f (paper-spec §5).

Each function takes the plain data returned by :mod:`pnnlib.bench.dstd_efficiency` (so results loaded back
from JSON plot the same) and returns a :class:`matplotlib.figure.Figure`; :func:`save` writes
``.pdf`` and ``.png``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullLocator

from pnnlib.pipeline.plotting import save

__all__ = ["plot_fig2", "plot_fig3ab", "plot_fig3cf", "save"]

_METHOD_STYLE = {
    "exact": {"color": "C0", "ls": "-", "marker": "o", "label": "exact (no DSTD)"},
    "exact-recursion": {"color": "C4", "ls": "-", "marker": "D", "label": "exact, recursion"},
    "dstd": {"color": "C1", "ls": "--", "marker": "s", "label": "DSTD"},
    "ode": {"color": "C2", "ls": ":", "marker": "^", "label": "ODE solver (backprop)"},
    "ode-adjoint": {"color": "C3", "ls": "-.", "marker": "v", "label": "ODE solver (adjoint)"},
}
_MODEL_TITLE = {"rcspike": "RC-Spike", "ttfs": "TTFS"}


def plot_fig2(cases: Sequence[dict[str, Any]], *, ncols: int = 3) -> plt.Figure:
    """Fig. 2c, d: exact membrane trajectories (solid) and DSTD on its grid (dashed, dots).

    ``cases`` from :func:`pnnlib.bench.dstd_error.trajectories`, drawn row by row (default: row c =
    |E| = 10, 2, 1 at M = 4; row d = |E| = 1 at M = 3, 6, 10). Rows share the y axis, so the
    narrowing range of v(1) with smaller |E| is visible.
    """
    nrows = -(-len(cases) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.0 * nrows), sharex=True, sharey="row", squeeze=False)
    for ax, case in zip(axes.flat, cases, strict=False):
        v_exact = np.asarray(case["v_exact"])
        v_dstd = np.asarray(case["v_dstd"])
        for k in range(v_exact.shape[1]):
            ax.plot(case["t"], v_exact[:, k], color=f"C{k}", lw=1.4)
            ax.plot(case["grid"], v_dstd[:, k], color=f"C{k}", ls="--", marker="o", ms=3.5, lw=1.0)
        ax.set_title(f"|E±| = {case['e']:g}, M = {case['steps']}", fontsize=10)
        ax.axvline(1.0, color="0.8", lw=0.8, zorder=0)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(cases) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("time t (accumulation phase)")
    for row, letter in zip(axes, "cdefgh", strict=False):
        row[0].set_ylabel("membrane potential v")
        row[0].text(-0.28, 1.02, f"({letter})", transform=row[0].transAxes, fontweight="bold")
    handles = [
        plt.Line2D([], [], color="k", lw=1.4, label="exact"),
        plt.Line2D([], [], color="k", ls="--", marker="o", ms=3.5, lw=1.0, label="DSTD (grid points)"),
    ]
    fig.legend(handles=handles, loc="upper center", ncol=2, frameon=False, bbox_to_anchor=(0.5, 1.03))
    fig.tight_layout()
    return fig


def plot_fig3ab(
    err: dict[str, Any],
    slopes: dict[str, Any],
    *,
    e_show: Sequence[float] | None = None,
    m_show: Sequence[int] | None = None,
) -> plt.Figure:
    r"""Fig. 3a, b: δ versus M for several |E| and δ versus |E| for several M (log–log).

    Experiment: dashed with markers; theory :math:`C M^{-2}|E|^{-1}` (C from
    :func:`~pnnlib.bench.dstd_error.error_slopes`): solid. Legends carry the fitted slopes over the
    asymptotic range, which is marked by a dotted vertical line.
    """
    steps = np.asarray(err["steps"], dtype=float)
    es = np.asarray(err["e"], dtype=float)
    delta = np.asarray(err["delta"], dtype=float)
    e_idx = [int(np.argmin(abs(es - e))) for e in e_show] if e_show else range(len(es))
    m_idx = [int(np.argmin(abs(steps - m))) for m in m_show] if m_show else range(len(steps))
    c = slopes.get("theory_c")
    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(10.5, 4.2))
    cmap = plt.get_cmap("viridis")
    for n, j in enumerate(e_idx):
        col = cmap(n / max(1, len(e_idx) - 1))
        s = slopes["slope_vs_m"].get(f"{es[j]:g}")
        lab = f"|E| = {es[j]:g}" + (f" (slope {s:.2f})" if s is not None else "")
        ax_a.plot(steps, delta[:, j], ls="--", marker="o", ms=4, color=col, label=lab)
        if c is not None:
            ax_a.plot(steps, c / (steps**2 * es[j]), color=col, lw=0.9, alpha=0.7)
    for n, i in enumerate(m_idx):
        col = cmap(n / max(1, len(m_idx) - 1))
        s = slopes["slope_vs_e"].get(f"{int(steps[i])}")
        lab = f"M = {int(steps[i])}" + (f" (slope {s:.2f})" if s is not None else "")
        ax_b.plot(es, delta[i, :], ls="--", marker="o", ms=4, color=col, label=lab)
        if c is not None:
            ax_b.plot(es, c / (steps[i] ** 2 * es), color=col, lw=0.9, alpha=0.7)
    ax_a.axvline(slopes["m_min"], color="0.5", ls=":", lw=1)
    ax_b.axvline(slopes["e_min"], color="0.5", ls=":", lw=1)
    ax_a.set_xlabel("number of DSTD time steps M")
    ax_b.set_xlabel("reversal potential |E±|")
    for ax, letter, key, theory in ((ax_a, "a", "mean_slope_vs_m", -2), (ax_b, "b", "mean_slope_vs_e", -1)):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylabel(r"error $\delta = \langle|v(1)-\hat v(1)|\rangle$")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="lower left")
        mean = slopes.get(key)
        ax.text(
            0.98,
            0.98,
            f"mean fitted slope {mean:.2f}\ntheory {theory}" if mean is not None else "",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.7"},
        )
        ax.set_title(f"({letter})", loc="left", fontweight="bold")
    fig.legend(
        handles=[
            plt.Line2D([], [], color="k", ls="--", marker="o", ms=4, label="experiment"),
            plt.Line2D([], [], color="k", lw=0.9, label=r"theory $C M^{-2}|E|^{-1}$"),
            plt.Line2D([], [], color="0.5", ls=":", label="start of fitted range"),
        ],
        loc="upper center",
        ncol=3,
        frameon=False,
        bbox_to_anchor=(0.5, 1.04),
    )
    fig.tight_layout()
    return fig


def _series(rows: Sequence[dict[str, Any]], model: str, method: str, key: str) -> tuple[list, list]:
    pts = sorted(
        (r["n_in"], r[key])
        for r in rows
        if r["model"] == model and r["method"] == method and r.get(key) is not None and "skipped" not in r
    )
    return [p[0] for p in pts], [p[1] for p in pts]


def _mib(series: tuple[list, list]) -> tuple[list, list]:
    return series[0], [b / 2**20 for b in series[1]]


def plot_fig3cf(eff: dict[str, Any], ratio_rows: Sequence[dict[str, Any]]) -> plt.Figure:
    """Fig. 3c-f: time per epoch, memory and exact/DSTD ratios versus the number of input spikes.

    One row per model (RC-Spike, TTFS). Memory in MiB, colours per method as in the time panel:
    peak (CUDA ``max_memory_allocated`` on GPU, else the child process's peak-RSS increase),
    filled markers; saved-for-backward bytes, hollow markers; configurations skipped for the
    memory budget appear as grey crosses at their predicted peak. Ratios: exact over DSTD (wall-clock
    and CPU time, peak memory, saved bytes).
    """
    rows = eff["rows"]
    models = [m for m in eff["settings"]["models"] if any(r["model"] == m for r in rows)]
    cuda = any(r.get("cuda_peak_bytes") is not None for r in rows)
    peak_key = "cuda_peak_bytes" if cuda else "peak_rss_bytes"
    peak_name = "peak CUDA memory" if cuda else "peak RSS increase"
    spikes = sorted({r["n_in"] for r in rows})
    fig, axes = plt.subplots(len(models), 3, figsize=(14, 3.9 * len(models)), squeeze=False)
    letters = iter("cdefgh")
    for row_axes, model in zip(axes, models, strict=True):
        ax_t, ax_m, ax_r = row_axes
        steps = eff["settings"]["steps"][model]
        methods = [m for m in _METHOD_STYLE if any(r["model"] == model and r["method"] == m for r in rows)]
        for method in methods:
            st = _METHOD_STYLE[method]
            style = {"color": st["color"], "ls": st["ls"], "marker": st["marker"]}
            label = st["label"] + (f", M = {steps}" if method == "dstd" else "")
            ax_t.plot(*_series(rows, model, method, "epoch_s"), label=label, **style)
            ax_m.plot(*_mib(_series(rows, model, method, peak_key)), **style)
            ax_m.plot(*_mib(_series(rows, model, method, "saved_bytes")), mfc="none", lw=0.8, alpha=0.8, **style)
        skipped = [
            (r["n_in"], r["predicted_peak_bytes"] / 2**20) for r in rows if r["model"] == model and "skipped" in r
        ]
        if skipped:
            ax_m.plot(*zip(*skipped, strict=True), "x", color="0.5", ls="none")
        ax_m.legend(
            handles=[
                plt.Line2D([], [], color="k", marker="o", label=peak_name),
                plt.Line2D([], [], color="k", marker="o", mfc="none", lw=0.8, label="saved for backward"),
                plt.Line2D([], [], color="0.5", marker="x", ls="none", label="skipped: predicted peak > budget"),
            ],
            fontsize=7,
            title="colours as in the time panel",
            title_fontsize=7,
        )
        rat = sorted(
            (r for r in ratio_rows if r["model"] == model and r["baseline"] == "exact" and r["method"] == "dstd"),
            key=lambda r: r["n_in"],
        )
        peak_ratio = "cuda_peak_ratio" if cuda else "peak_rss_ratio"
        for key, lab, col, mk in (
            ("time_ratio", "time (wall clock)", "C0", "o"),
            ("cpu_time_ratio", "time (process CPU)", "C4", "D"),
            (peak_ratio, peak_name, "C1", "s"),
            ("saved_ratio", "saved bytes", "C2", "^"),
        ):
            pts = [(r["n_in"], r[key]) for r in rat if r.get(key)]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax_r.plot(xs, ys, marker=mk, color=col, label=lab)
                for x, y in pts:
                    ax_r.annotate(
                        f"{y:.0f}×" if y >= 10 else f"{y:.1f}×",
                        (x, y),
                        fontsize=7,
                        textcoords="offset points",
                        xytext=(4, 4),
                    )
        ax_r.axhline(1.0, color="0.6", lw=0.8)
        title = f"{_MODEL_TITLE[model]} (1 layer, {eff['settings'].get('n_out', 1000)} neurons)"
        for ax, ylabel in ((ax_t, "training time per epoch [s]"), (ax_m, "memory [MiB]"), (ax_r, "exact / DSTD")):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks(spikes, [str(n) for n in spikes])
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xlabel("number of input spikes N_in")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3, which="both")
        ax_t.legend(fontsize=7)
        ax_r.legend(fontsize=7)
        ax_t.set_title(f"({next(letters)}) {title}: time", loc="left", fontsize=10)
        ax_m.set_title(f"({next(letters)}) {title}: memory", loc="left", fontsize=10)
        ax_r.set_title(f"{_MODEL_TITLE[model]}: exact over DSTD", loc="left", fontsize=10)
    fig.tight_layout()
    return fig
