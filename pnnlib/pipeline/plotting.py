r"""Plots and tables of the Fashion-MNIST MLP experiments (paper Fig. 4c–f, Fig. 11a, Fig. 14,
Table 3), drawn from the run table of :func:`pnnlib.experiments.load_runs`.

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

__all__ = [
    "OFFSET_STYLE",
    "acc_vs_e",
    "acc_vs_m",
    "gp_band",
    "learning_curves",
    "save",
    "scaling_landscape",
    "sigma_sweep",
    "spike_time_histograms",
    "summarise",
    "table3",
    "table3_cells",
    "table3_markdown",
    "write_table",
]

OFFSET_STYLE = {"random": "-", "fixed": "--"}
"""Line style per DSTD offset mode."""


def save(fig: plt.Figure, path_stem: str | Path) -> list[Path]:
    """Write ``<stem>.pdf`` and ``<stem>.png`` (150 dpi); returns the paths."""
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = [stem.with_suffix(".pdf"), stem.with_suffix(".png")]
    fig.savefig(out[0], bbox_inches="tight")
    fig.savefig(out[1], dpi=150, bbox_inches="tight")
    return out


def write_table(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str], path_stem: str | Path,
                title: str, digits: int = 4) -> list[Path]:
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
    return [write_text_atomic(stem.with_suffix(".csv"), "\n".join(csv) + "\n"),
            write_text_atomic(stem.with_suffix(".md"), "\n".join(md) + "\n")]


def summarise(runs: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Mean, std (ddof 0) and count of the final accuracy (in %) over seeds, grouped by ``by``."""
    if runs.empty:
        return pd.DataFrame(columns=[*by, "mean", "std", "n"])
    g = runs.assign(pct=100 * runs["acc"]).groupby(list(by))["pct"]
    return g.agg(mean="mean", std=lambda s: float(np.std(s)), n="count").reset_index()


def _select(runs: pd.DataFrame, **where: Any) -> pd.DataFrame:
    if runs.empty:
        return runs
    mask = np.ones(len(runs), dtype=bool)
    for key, value in where.items():
        col = runs[key]
        mask &= np.isclose(col.astype(float), float(value)) if isinstance(value, float) else (col == value)
    return runs[mask]


def learning_curves(ax: plt.Axes, runs: pd.DataFrame, e: float, m_values: Sequence[int],
                    offsets: Sequence[str] = ("random", "fixed")) -> None:
    """Fig. 4c: test accuracy per epoch at one |E| for each (M, offset), mean ± std over seeds."""
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ci, m in enumerate(m_values):
        for off in offsets:
            sel = _select(runs, e_pos=float(e), steps=int(m), offset=off)
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
            ax.step(centers, counts / max(total, 1.0), where="mid", color=cmap(i / max(len(es) - 1, 1)),
                    label=f"|E| = {e:g}")
    for k, ax in enumerate(axes, 1):
        ax.set_title(f"layer {k}")
        ax.set_xlabel("spike time t")
        ax.set_yscale("log")
    axes[0].set_ylabel("fraction of spikes")
    axes[-1].legend(fontsize="small")


def acc_vs_m(ax: plt.Axes, runs: pd.DataFrame, e: float, offsets: Sequence[str] = ("random", "fixed")) -> None:
    """Fig. 4e: final test accuracy versus training M at one |E|, per offset mode."""
    for off in offsets:
        s = summarise(_select(runs, e_pos=float(e), offset=off), ["steps"]).sort_values("steps")
        if s.empty:
            continue
        ax.errorbar(s["steps"], s["mean"], yerr=s["std"], fmt="o" + OFFSET_STYLE[off], capsize=2, label=off)
    ax.set_title(f"|E| = {e:g}")
    ax.set_xlabel("DSTD steps M (training)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize="small")


GP_MIN_POINTS = 4
"""Fewest distinct |E| values for which :func:`acc_vs_e` draws a GP band (with 3, the fitted
white-noise term explains the data and the band is flat)."""


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


def acc_vs_e(ax: plt.Axes, runs: pd.DataFrame, m: int, ann: Sequence[Mapping[str, float]] | None = None,
             scaled: Sequence[Mapping[str, float]] | None = None, offset: str = "random",
             color: str = "C0", label: str = "PNN (trained at |E|)") -> None:
    """Fig. 4f / Fig. 11a: final test accuracy versus |E| at training M (log axis) with a GP band;
    ``ann`` / ``scaled``: ``[{"e", "acc", "acc_std"}]`` of the ANN baselines (green)."""
    sel = _select(runs, steps=int(m), offset=offset)
    s = summarise(sel, ["e_pos"]).sort_values("e_pos")
    if not s.empty:
        ax.errorbar(s["e_pos"], s["mean"], yerr=s["std"], fmt="o", color=color, capsize=2, ms=4, label=label)
        if sel["e_pos"].nunique() >= GP_MIN_POINTS:
            gx, gm, gs = gp_band(sel["e_pos"].to_numpy(), 100 * sel["acc"].to_numpy())
            ax.plot(gx, gm, color=color, lw=1)
            ax.fill_between(gx, gm - gs, gm + gs, color=color, alpha=0.15, lw=0)
        else:  # too few |E| values for a GP: its noise term absorbs them all (a flat, uninformative fit)
            ax.plot(s["e_pos"], s["mean"], color=color, lw=1)
    for curve, style, name in ((ann, "-", "ANN (|E| = 100)"), (scaled, "--", "scaled ANN")):
        if curve:
            c = sorted(curve, key=lambda r: r["e"])
            ax.errorbar([r["e"] for r in c], [100 * r["acc"] for r in c], yerr=[100 * r["acc_std"] for r in c],
                        fmt=style, color="green", capsize=2, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("|E±|")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"M = {m}")
    ax.legend(fontsize="small")


def sigma_sweep(ax: plt.Axes, runs: pd.DataFrame, m: int, sigmas: Sequence[float]) -> None:
    """Fig. 11a: accuracy versus |E| for each σ_spike (M = ``m``, random offset)."""
    cmap = plt.get_cmap("plasma")
    for i, sig in enumerate(sigmas):
        sel = _select(runs, sigma=float(sig))
        acc_vs_e(ax, sel, m, color=cmap(i / max(len(sigmas), 1)), label=f"σ = {sig:g}")
    ax.set_title(f"accuracy vs |E| per σ_spike (M = {m}, random offset)")


def scaling_landscape(ax: plt.Axes, landscape: np.ndarray, alphas_pos: Sequence[float],
                      alphas_neg: Sequence[float], best: tuple[float, float], title: str = "") -> Any:
    """Fig. 14: accuracy (%) over the (α⁺, α⁻) grid, best point marked; returns the image."""
    land = 100 * np.asarray(landscape, float)

    def cell_edges(a: Sequence[float]) -> tuple[float, float]:
        half = (a[-1] - a[0]) / (2 * (len(a) - 1)) if len(a) > 1 else 0.05
        return a[0] - half, a[-1] + half

    im = ax.imshow(land.T, origin="lower", aspect="auto", cmap="viridis",
                   extent=(*cell_edges(alphas_pos), *cell_edges(alphas_neg)))
    ax.plot(*best, marker="*", color="red", ms=12, mec="white")
    ax.set_xlabel("α⁺ (positive weights)")
    ax.set_ylabel("α⁻ (negative weights)")
    ax.set_title(title)
    return im


def table3(runs: pd.DataFrame, m: int, sigmas: Sequence[float],
           paper: Mapping[float, tuple[float, float]] | None = None) -> pd.DataFrame:
    """Table 3 (MLP rows): per σ_spike, the |E| of the best mean accuracy (M = ``m``, random
    offset) with that accuracy's mean ± std over seeds; ``paper`` adds the paper's
    (best |E|, accuracy %) columns."""
    rows = []
    for sig in sigmas:
        s = summarise(_select(runs, sigma=float(sig), steps=int(m), offset="random"), ["e_pos"])
        row: dict[str, Any] = {"sigma": sig}
        if not s.empty:
            best = s.loc[s["mean"].idxmax()]
            row.update(best_e=float(best["e_pos"]), accuracy=float(best["mean"]), std=float(best["std"]),
                       n_seeds=int(best["n"]), n_e=len(s))
        if paper and sig in paper:
            row.update(paper_best_e=paper[sig][0], paper_accuracy=paper[sig][1])
        rows.append(row)
    return pd.DataFrame(rows)


def table3_cells(r: Mapping[str, Any]) -> list[str]:
    """Cells best |E|, accuracy mean ± std, seeds, paper best |E|, paper accuracy of one Table 3 row
    (a record of :func:`table3` or :func:`pnnlib.experiments.cnn.table3_cnn`; missing or NaN entries as "–")."""

    def has(key: str) -> bool:
        return key in r and r[key] == r[key]  # present and not NaN

    return [
        f"{r['best_e']:g}" if has("best_e") else "–",
        f"{r['accuracy']:.2f} ± {r['std']:.2f}" if has("accuracy") else "–",
        str(int(r["n_seeds"])) if has("n_seeds") else "–",
        f"{r['paper_best_e']:g}" if has("paper_best_e") else "–",
        f"{r['paper_accuracy']:.2f}" if has("paper_accuracy") else "–",
    ]


def table3_markdown(t3: pd.DataFrame, m: int) -> str:
    """Markdown rendering of :func:`table3` (missing entries as "–")."""
    lines = [
        f"Table 3, Fashion-MNIST MLP 784-400-400-10 (RC-Spike, M = {m}, random offset): the |E| of the best mean "
        "test accuracy over seeds, and that mean ± std.",
        "",
        "| σ_spike | best \\|E\\| | accuracy (%) | seeds | paper best \\|E\\| | paper accuracy (%) |",
        "|---|---|---|---|---|---|",
    ]
    for r in t3.to_dict("records"):
        lines.append("| " + " | ".join([f"{r['sigma']:g}", *table3_cells(r)]) + " |")
    return "\n".join(lines) + "\n"
