r"""The figures' shared plots: the MLP and CNN experiments (paper Figs. 4c–f, 5, 10–14), drawn from
the run table of :func:`pnnlib.experiments.load_runs` and the stages' derived data.

Accuracies are plotted in percent: the mean over seeds with ± 1 std error bars (each run's final
accuracy is itself the mean of ``n_eval`` evaluations). Accuracy-versus-|E| panels add a
Gaussian-process regression on log |E| with its 95 % band, as the paper does (Fig. 4f; kernel
settings not given by the paper: ours are an RBF (length scale ≥ 0.2 decades) plus a white-noise
kernel, fitted by maximum likelihood).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pnnlib.experiments.runs import select, summarise

__all__ = [
    "ANN_DODGE",
    "OFFSET_STYLE",
    "acc_vs_e",
    "acc_vs_m",
    "acc_vs_test_m",
    "gp_band",
    "learning_curves",
    "membrane_traces",
    "save",
    "scaling_landscape",
    "sigma_sweep",
    "spike_time_histograms",
    "summarise",
    "write_table",
]

OFFSET_STYLE = {"random": "-", "fixed": "--"}
"""Line style per DSTD offset mode."""

ANN_DODGE = 1.06
"""Horizontal offset (a factor on the log |E| axis) between the ANN and scaled-ANN points of one |E|."""


def save(fig: plt.Figure, path_stem: str | Path, empty_note: str = "no data at this scale") -> list[Path]:
    """Write ``<stem>.pdf`` and ``<stem>.png`` (150 dpi; the same figure gives the same bytes);
    returns the paths. A panel left without data (e.g. a paper-scale figure drawn from the few
    runs archived so far) says so in ``empty_note`` instead of showing an empty frame."""
    for ax in fig.axes:
        if ax.axison and not ax.has_data():
            legend = ax.get_legend()
            if legend is not None:
                legend.remove()
            ax.text(0.5, 0.5, empty_note, ha="center", va="center", transform=ax.transAxes, color="0.4")
            ax.set_xticks([])
            ax.set_yticks([])
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = [stem.with_suffix(".pdf"), stem.with_suffix(".png")]
    # no creation date in the PDF: a rerun that draws the same figure writes the same bytes
    fig.savefig(out[0], bbox_inches="tight", metadata={"CreationDate": None})
    fig.savefig(out[1], dpi=150, bbox_inches="tight")
    return out


def learning_curve(ax: plt.Axes, history: Sequence[Mapping[str, Any]], train_m: int, test_m: int, title: str) -> None:
    """One run's training and test accuracy per epoch (a run's summary figure)."""
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [100 * h["train_acc"] for h in history], "o-", label=f"train (M = {train_m})")
    test = [(h["epoch"], 100 * h["test_acc"]) for h in history if h["test_acc"] is not None]
    if test:
        ax.plot(*zip(*test), "s-", label=f"test (M = {test_m})")
    ax.set(xlabel="epoch", ylabel="accuracy (%)", title=title)
    ax.legend()


def write_table(
    rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str], path_stem: str | Path, title: str, digits: int = 4
) -> list[Path]:
    """Write ``rows`` as ``<stem>.csv`` (full precision) and ``<stem>.md`` (``title`` and numbers to
    ``digits`` significant digits), atomically; ``columns`` maps row keys to column headers."""
    from pnnlib.io import write_text_atomic

    def cell(x: Any, md: bool) -> str:
        if isinstance(x, float):
            return f"{x:.{digits}g}" if md else repr(x)
        return str(x).replace("|", "\\|") if md else '"' + str(x).replace('"', "'") + '"'

    stem = Path(path_stem)
    csv = [",".join(columns.values())] + [",".join(cell(r.get(k), False) for k in columns) for r in rows]
    md = [f"# {title}", "", "| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
    md += ["| " + " | ".join(cell(r.get(k), True) for k in columns) + " |" for r in rows]
    return [
        write_text_atomic(stem.with_suffix(".csv"), "\n".join(csv) + "\n"),
        write_text_atomic(stem.with_suffix(".md"), "\n".join(md) + "\n"),
    ]


def learning_curves(
    ax: plt.Axes, runs: pd.DataFrame, e: float, m_values: Sequence[int], offsets: Sequence[str] = ("random", "fixed")
) -> None:
    """Fig. 4c: test accuracy per epoch at one |E| for each (M, offset), mean ± std over seeds."""
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ci, m in enumerate(m_values):
        for off in offsets:
            sel = select(runs, e_pos=float(e), steps=int(m), offset=off)
            curves = [[row["test_acc"] for row in h if row["test_acc"] is not None] for h in sel["history"]]
            curves = [c for c in curves if c]
            if not curves:
                continue
            n = min(len(c) for c in curves)
            arr = 100 * np.array([c[:n] for c in curves])
            ep = np.arange(1, n + 1)
            mean, std = arr.mean(0), arr.std(0)
            ax.plot(ep, mean, OFFSET_STYLE[off], color=colors[ci % len(colors)], label=f"M={m}, {off}")
            ax.fill_between(ep, mean - std, mean + std, color=colors[ci % len(colors)], alpha=0.15, lw=0)
    ax.set_title(f"|E| = {e:g}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize="small")


def spike_time_histograms(axes: Sequence[plt.Axes], hists: Mapping[float, Mapping[str, np.ndarray]]) -> None:
    """Fig. 4d: per layer (one axis each), the output spike-time distribution at several |E|.

    ``hists`` maps |E| to the contents of a run's ``spike_hist.npz``.
    """
    cmap = plt.get_cmap("viridis")
    es = sorted(hists)
    for i, e in enumerate(es):
        h = hists[e]
        edges = h["edges"]
        centers = (edges[:-1] + edges[1:]) / 2
        for k, ax in enumerate(axes, 1):
            if f"layer{k}" not in h:
                continue
            counts = h[f"layer{k}"].astype(float)
            total = counts.sum() + float(h[f"below{k}"]) + float(h[f"above{k}"])
            ax.step(
                centers,
                counts / max(total, 1.0),
                where="mid",
                color=cmap(i / max(len(es) - 1, 1)),
                label=f"|E| = {e:g}",
            )
    for k, ax in enumerate(axes, 1):
        ax.set_title(f"layer {k}")
        ax.set_xlabel("spike time t")
        ax.set_yscale("log")
    spans = [
        _nonzero_span(h["edges"], h[f"layer{k}"])
        for h in hists.values()
        for k in range(1, len(axes) + 1)
        if f"layer{k}" in h
    ]
    spans = [s for s in spans if s is not None]
    if spans:  # the histograms span [0, t_max]; show where the spikes are (they end near t = 1)
        lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)
        pad = 0.05 * (hi - lo)
        for ax in axes:
            ax.set_xlim(lo - pad, hi + pad)
    axes[0].set_ylabel("fraction of spikes")
    axes[-1].legend(fontsize="small")


def _nonzero_span(edges: np.ndarray, counts: np.ndarray) -> tuple[float, float] | None:
    """The first and last bin edge that enclose a nonzero count (None for an empty histogram)."""
    nz = np.flatnonzero(np.asarray(counts) > 0)
    return (float(edges[nz[0]]), float(edges[nz[-1] + 1])) if nz.size else None


def acc_vs_m(ax: plt.Axes, runs: pd.DataFrame, e: float, offsets: Sequence[str] = ("random", "fixed")) -> None:
    """Fig. 4e: final test accuracy versus training M at one |E|, per offset mode."""
    for off in offsets:
        s = summarise(select(runs, e_pos=float(e), offset=off), ["steps"]).sort_values("steps")
        if s.empty:
            continue
        ax.errorbar(s["steps"], s["mean"], yerr=s["std"], fmt="o" + OFFSET_STYLE[off], capsize=2, label=off)
    ax.set_title(f"|E| = {e:g}")
    ax.set_xlabel("DSTD steps M (training)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize="small")


GP_MIN_POINTS = 6
"""Fewest distinct |E| values for which :func:`acc_vs_e` draws a GP band (with 3, and with the
quick profile's 4 values and 3 seeds, the fitted white-noise term explains the data and the band is
flat across the whole range; fewer values are joined by straight lines)."""


def gp_band(x: np.ndarray, y: np.ndarray, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GP regression of ``y`` on ``log10(x)``: ``(grid, mean, 1.96·std)`` on ``n`` points."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    lx = np.log10(np.asarray(x, float))[:, None]
    kernel = ConstantKernel(1.0) * RBF(0.5, (0.2, 10.0)) + WhiteKernel(0.1, (1e-6, 10.0))
    gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=0).fit(lx, np.asarray(y, float))
    grid = np.linspace(lx.min(), lx.max(), n)
    mean, std = gp.predict(grid[:, None], return_std=True)
    return 10**grid, mean, 1.96 * std


def acc_vs_e(
    ax: plt.Axes,
    runs: pd.DataFrame,
    m: int,
    ann: Sequence[Mapping[str, float]] | None = None,
    scaled: Sequence[Mapping[str, float]] | None = None,
    offset: str = "random",
    color: str = "C0",
    label: str = "PNN (trained at |E|)",
    ann_e: float = 100.0,
) -> None:
    """Figs. 4f, 5d, 10e, 11, 12: final test accuracy versus |E| at training M (log axis) with a GP
    band; ``ann`` / ``scaled``: ``[{"e", "acc", "acc_std"}]`` of the ANN baselines (ANN green, scaled ANN olive), the
    network trained at |E| = ``ann_e``, drawn a little left (ANN) and right (scaled ANN) of their
    |E| (factor ``ANN_DODGE``) so that their error bars do not hide each other."""
    sel = select(runs, steps=int(m), offset=offset)
    s = summarise(sel, ["e_pos"]).sort_values("e_pos")
    if not s.empty:
        ax.errorbar(s["e_pos"], s["mean"], yerr=s["std"], fmt="o", color=color, capsize=2, ms=4, label=label)
        if sel["e_pos"].nunique() >= GP_MIN_POINTS:
            gx, gm, gs = gp_band(sel["e_pos"].to_numpy(), 100 * sel["acc"].to_numpy())
            ax.plot(gx, gm, color=color, lw=1)
            ax.fill_between(gx, gm - gs, gm + gs, color=color, alpha=0.15, lw=0)
        else:  # too few |E| values for a GP: its noise term absorbs them all (a flat, uninformative fit)
            ax.plot(s["e_pos"], s["mean"], color=color, lw=1)
    baselines = (
        (ann, "s-", "green", 1 / ANN_DODGE, f"ANN (|E| = {ann_e:g})"),
        (scaled, "^--", "olive", ANN_DODGE, "scaled ANN"),
    )
    for curve, style, colour, dodge, name in baselines:
        if curve:
            c = sorted(curve, key=lambda r: r["e"])
            ax.errorbar(
                [r["e"] * dodge for r in c],
                [100 * r["acc"] for r in c],
                yerr=[100 * r["acc_std"] for r in c],
                fmt=style,
                color=colour,
                capsize=2,
                ms=4,
                label=name,
            )
    ax.set_xscale("log")
    ax.set_xlabel("|E±|")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"M = {m}")
    ax.legend(fontsize="small")


def sigma_sweep(ax: plt.Axes, runs: pd.DataFrame, m: int, sigmas: Sequence[float]) -> None:
    """Fig. 11a: accuracy versus |E| for each σ_spike (M = ``m``, random offset)."""
    cmap = plt.get_cmap("plasma")
    for i, sig in enumerate(sigmas):
        sel = select(runs, sigma=float(sig))
        acc_vs_e(ax, sel, m, color=cmap(i / max(len(sigmas), 1)), label=f"σ = {sig:g}")
    ax.set_title(f"accuracy vs |E| per σ_spike (M = {m}, random offset)")


def scaling_landscape(
    ax: plt.Axes,
    landscape: np.ndarray,
    alphas_pos: Sequence[float],
    alphas_neg: Sequence[float],
    best: tuple[float, float],
    title: str = "",
) -> Any:
    """Fig. 14: accuracy (%) over the (α⁺, α⁻) grid, best point marked; returns the image."""
    land = 100 * np.asarray(landscape, float)

    def cell_edges(a: Sequence[float]) -> tuple[float, float]:
        half = (a[-1] - a[0]) / (2 * (len(a) - 1)) if len(a) > 1 else 0.05
        return a[0] - half, a[-1] + half

    im = ax.imshow(
        land.T, origin="lower", aspect="auto", cmap="viridis", extent=(*cell_edges(alphas_pos), *cell_edges(alphas_neg))
    )
    ax.plot(*best, marker="*", color="red", ms=12, mec="white")
    ax.set_xlabel("α⁺ (positive weights)")
    ax.set_ylabel("α⁻ (negative weights)")
    ax.set_title(title)
    return im


def membrane_traces(axes: Sequence[plt.Axes], traces: Mapping[str, Any], n_hidden: int = 30) -> None:
    """Fig. 10a–c: membrane potentials of ``n_hidden`` last-hidden-layer neurons (first axis) and
    of the ten outputs (second axis, the label's neuron bold) from
    :func:`pnnlib.experiments.cnn.ttfs_traces`."""
    t = traces["t"]
    for ax, layer in zip(axes, traces["layers"]):
        v = layer["v"]
        is_out = v.shape[1] == 10
        cols = range(v.shape[1]) if is_out else range(min(n_hidden, v.shape[1]))
        for j in cols:
            bold = is_out and j == traces["label"]
            ax.plot(t, v[:, j], lw=2.0 if bold else 0.7, color="C3" if bold else None, alpha=1.0 if bold else 0.7)
        ax.axhline(1.0, color="k", ls=":", lw=0.8)
        ax.set_title(f"{layer['name']}, E⁺ = −E⁻ = {traces['e_pos']:g}", fontsize="medium")
        ax.set_xlabel("time t")
        ax.set_ylabel("membrane potential v")


def acc_vs_test_m(
    ax: plt.Axes,
    curve: Sequence[Mapping[str, Any]],
    label: str,
    train_m: int | None = None,
    chosen_m: int | None = None,
) -> None:
    """Fig. 13: accuracy (mean ± std over the evaluations) versus the test-time M
    (:func:`pnnlib.experiments.cnn.test_time_m`), with the training M and the paper's test M."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    c = sorted(curve, key=lambda r: r["m"])
    ax.errorbar(
        [r["m"] for r in c],
        [100 * r["acc"] for r in c],
        yerr=[100 * r["acc_std"] for r in c],
        fmt="o-",
        capsize=2,
        label=label,
    )
    for m, style, name in ((train_m, ":", "training M"), (chosen_m, "--", "paper's test M")):
        if m is not None:
            ax.axvline(m, color="gray", ls=style, lw=0.8, label=f"{name} = {m}")
    ax.set_xscale("log")
    ax.set_xticks(sorted({r["m"] for r in c} | {m for m in (train_m, chosen_m) if m is not None}))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("test-time DSTD steps M")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize="small")
