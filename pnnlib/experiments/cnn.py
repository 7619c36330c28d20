r"""The convolutional experiments (paper Figs. 5, 10, 11b, 12, 13; Table 3 CNN rows).

Four *families* of training runs (:data:`FAMILIES`), each a grid over
(|E|, M, offset, σ_spike, seed) of :class:`~pnnlib.train.TrainConfig` runs with fixed settings:

* ``vgg7_cifar10`` — RC-Spike VGG7 on CIFAR-10 (paper §3.2 RC-Spike settings): Fig. 5b–d
  (learning curves, accuracy vs M, accuracy vs |E| with the ANN baselines), Fig. 12a and its
  Table 3 rows (σ sweep), Fig. 13 (a run trained at M = 15);
* ``vgg7x2_cifar10`` — the same with every width doubled (Fig. 12b, Table 3);
* ``vgg7_fmnist`` — VGG7 on Fashion-MNIST (Fig. 11b, Table 3);
* ``ttfs_cnn_fmnist`` — the TTFS small CNN with the TTFS settings (lr 2e-4, γ₁ 0.02,
  t_ref 3.2, γ₂ 8e-6, 150 epochs, train M = 30, test M = 60; Appendix C): Fig. 10d (accuracy
  vs M), 10e (accuracy vs E⁺ with the ANN baselines), the membrane traces of Fig. 10a–c
  (:func:`ttfs_traces`) and Fig. 13 (a run trained at M = 30).

:func:`rc_cnn_grids`, :func:`sigma_grids` and :func:`ttfs_grids` give the named grids with every
size a parameter (defaults: the paper's values), :func:`cnn_plan` the runs of one family, and
:func:`test_time_m` the accuracy of a trained run versus the test-time M (Fig. 13). Runs are
trained by :func:`pnnlib.train.train` (the pipeline: one ``notebooks/run_train.ipynb`` per run),
aggregated by the ``notebooks/fig5_*``, ``fig10_*``, ``fig11b_12_*`` and ``fig13_*`` notebooks.

Settings the paper does not give ([open], paper-spec §8): the CNN epoch count (we keep the
MLP's 50 for RC-Spike), the RC-Spike initialisation (:data:`VGG7_INIT_GAIN`, He-style), the |E|
sweep values (RC-Spike: the log grid :data:`pnnlib.experiments.PAPER_E_GRID`; TTFS:
:data:`TTFS_E_GRID`, √2 steps through the paper's 2.0, 2.8 and 31.6), the CIFAR-10 augmentation
(:mod:`pnnlib.data.cifar`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pnnlib import data as data_mod
from pnnlib.core.neuron import rcspike_exact, ttfs_exact
from pnnlib.experiments.mlp import ID_KEYS, PAPER_E_GRID, PAPER_SIGMAS, mlp_grids
from pnnlib.nn.layers import SpikingLayer, TTFSConv2d, TTFSLinear
from pnnlib.pipeline.profiles import expand_grid
from pnnlib.train import TrainConfig, evaluate, load_model, resolve_device

__all__ = [
    "FAMILIES",
    "PAPER_TABLE3",
    "TABLE3_KEYS",
    "TTFS_E_GRID",
    "TTFS_SETTINGS",
    "VGG7_INIT_GAIN",
    "ann_baselines",
    "ann_lines",
    "cnn_plan",
    "first_converged",
    "plot_test_time_m",
    "plot_traces",
    "rc_cnn_grids",
    "sigma_grids",
    "table3_cnn",
    "table3_cnn_markdown",
    "test_time_m",
    "ttfs_grids",
    "ttfs_traces",
]

TTFS_SETTINGS: dict[str, Any] = {
    "lr": 2e-4, "gamma1": 0.02, "t_ref": 3.2, "tau_soft": 0.07, "gamma2": 8e-6, "epochs": 150,
    "steps": 30, "eval_steps": 60,
}
"""TTFS training settings (paper-spec §3.2 TTFS table, §3.3: train M = 30, test M = 60)."""

VGG7_INIT_GAIN = 1.4
r"""RC-Spike VGG7 initialisation gain (Var w = gain²/fan_in, :func:`pnnlib.nn.layers.uniform_init_`;
the paper gives none, paper-spec §3.4 [open]). ≈ √2, He-style: in the ideal limit a layer is
:math:`x\mapsto\mathrm{clip}(Wx)`, which halves the second moment like a ReLU, and √2 keeps
it through the eight layers. The MLP's default 0.5 lets the signal fade to a few per cent of
the window after two conv layers; the output spikes then drift to t = 1, where the clip
passes no gradient, and training stalls at chance (measured at width 1/8)."""

FAMILIES: dict[str, dict[str, Any]] = {
    "vgg7_cifar10": {"model": "vgg7", "dataset": "cifar10", "width": 1.0, "init_gain": VGG7_INIT_GAIN,
                     "eval_batch": 100},
    "vgg7x2_cifar10": {"model": "vgg7", "dataset": "cifar10", "width": 2.0, "init_gain": VGG7_INIT_GAIN,
                       "eval_batch": 50},
    "vgg7_fmnist": {"model": "vgg7", "dataset": "fashion_mnist", "width": 1.0, "init_gain": VGG7_INIT_GAIN,
                    "eval_batch": 100},
    "ttfs_cnn_fmnist": {"model": "ttfs_cnn", "dataset": "fashion_mnist", **TTFS_SETTINGS, "eval_batch": 50},
}
"""Fixed settings of each family (the rest: :class:`~pnnlib.train.TrainConfig` defaults, i.e. the
RC-Spike settings of paper-spec §3.2–§3.3). A profile's ``train`` section overrides them (e.g. a
narrower ``width``). ``eval_batch`` bounds the memory of evaluation at the large test M: a
conv layer holds ~8 tensors of ``K·2·C_out·H·W`` floats per image (K = M + 1), e.g. ~65 MB per
image for the first VGG7 layer at M = 30, so 100 images ≈ 6.5 GB."""

TTFS_E_GRID: tuple[float, ...] = (1.2, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0, 11.3, 16.0, 22.6, 31.6)
"""E⁺ sweep of Fig. 10e: 1.2 (the neuron needs E⁺ > V_th = 1) then √2 steps, 31.6 = the ANN."""

_RC_GRID_NAMES = {"fig4c": "curves", "fig4e": "m_sweep", "fig4f": "e_sweep", "fig11a": "sigma_sweep"}


def rc_cnn_grids(
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    sigma: float = 0.01,
    curve_e: Sequence[float] = (4.0, 1.0),
    curve_m: Sequence[int] = (2, 15),
    offsets: Sequence[str] = ("random", "fixed"),
    m_sweep_e: Sequence[float] = (4.0, 2.0, 1.0),
    m_sweep: Sequence[int] = (2, 3, 5, 10, 15, 20, 30),
    e_sweep: Sequence[float] = PAPER_E_GRID,
    e_sweep_m: Sequence[int] = (15, 4),
    sigmas: Sequence[float] = PAPER_SIGMAS,
    sigma_m: int = 10,
) -> dict[str, dict[str, list]]:
    """Grids of the CIFAR-10 VGG7 (values of :data:`pnnlib.experiments.ID_KEYS` per grid).

    ``curves`` (Fig. 5b: |E| ∈ {4, 1}, several M, both offsets), ``m_sweep`` (Fig. 5c: accuracy
    vs M for |E| ∈ {4, 2, 1}), ``e_sweep`` (Fig. 5d: accuracy vs |E| at M = 15 and 4, random
    offset; its |E| = 100 runs are the ANN) and ``sigma_sweep`` (Fig. 12a / Table 3: σ_spike ×
    |E| at M = 10, random offset). The same structure as the MLP's Fig. 4 / 11a grids
    (:func:`pnnlib.experiments.mlp_grids`); an empty sequence drops a grid.
    """
    grids = mlp_grids(seeds=seeds, sigma=sigma, curve_e=curve_e, curve_m=curve_m, offsets=offsets,
                      m_sweep_e=m_sweep_e, m_sweep=m_sweep, e_sweep=e_sweep, e_sweep_m=e_sweep_m,
                      sigmas=sigmas, sigma_m=sigma_m)
    return {_RC_GRID_NAMES[name]: g for name, g in grids.items()}


def sigma_grids(
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    e_sweep: Sequence[float] = PAPER_E_GRID,
    sigmas: Sequence[float] = PAPER_SIGMAS,
    sigma_m: int = 10,
) -> dict[str, dict[str, list]]:
    """The σ_spike × |E| grid alone (M = ``sigma_m``, random offset): Fig. 11b (Fashion-MNIST
    VGG7), Fig. 12b (VGG7 ×2) and their Table 3 rows."""
    return rc_cnn_grids(seeds=seeds, curve_e=(), m_sweep_e=(), e_sweep=e_sweep, e_sweep_m=(), sigmas=sigmas,
                        sigma_m=sigma_m)


def ttfs_grids(
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    sigma: float = 0.01,
    offsets: Sequence[str] = ("random", "fixed"),
    m_sweep_e: Sequence[float] = (4.0, 2.0),
    m_sweep: Sequence[int] = (5, 10, 20, 30, 40, 60),
    e_sweep: Sequence[float] = TTFS_E_GRID,
    e_sweep_m: Sequence[int] = (30, 10),
) -> dict[str, dict[str, list]]:
    """Grids of the TTFS CNN: ``m_sweep`` (Fig. 10d: accuracy vs training M at E⁺ ∈ {4, 2}, both
    offsets) and ``e_sweep`` (Fig. 10e: accuracy vs E⁺ at M = 30 and 10, random offset; the
    E⁺ = 31.6 runs are the ANN; the 2.0, 2.8 and 31.6 runs at M = 30 give the Fig. 10a–c traces)."""
    grids = mlp_grids(seeds=seeds, sigma=sigma, curve_e=(), offsets=offsets, m_sweep_e=m_sweep_e, m_sweep=m_sweep,
                      e_sweep=e_sweep, e_sweep_m=e_sweep_m, sigmas=())
    return {_RC_GRID_NAMES[name]: g for name, g in grids.items()}


_GRIDS = {"vgg7_cifar10": rc_cnn_grids, "vgg7x2_cifar10": sigma_grids, "vgg7_fmnist": sigma_grids,
          "ttfs_cnn_fmnist": ttfs_grids}


def cnn_plan(family: str, train: Mapping[str, Any] | None = None, **grid_sizes: Any) -> dict[str, TrainConfig]:
    """``{run_id: TrainConfig}`` of one family (run ids as in :data:`pnnlib.experiments.ID_KEYS`,
    e.g. ``e4-m15-off_random-sig0.01-seed0``; runs shared by several grids appear once).

    ``train`` overrides the family's fixed settings (:data:`FAMILIES`; e.g. a profile's subset
    sizes, epochs and width); ``grid_sizes`` go to the family's grid function
    (:func:`rc_cnn_grids`, :func:`sigma_grids` or :func:`ttfs_grids`).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown CNN family {family!r}; known: {sorted(FAMILIES)}")
    fixed = {**FAMILIES[family], **dict(train or {})}
    runs = expand_grid(_GRIDS[family](**grid_sizes), fixed=fixed, id_keys=ID_KEYS)
    return {rid: TrainConfig.from_dict(params) for rid, params in runs.items()}


# --------------------------------------------------------------------------- Fig. 13


def test_time_m(
    run_dir: str | Path,
    m_values: Sequence[int],
    n_eval: int = 10,
    device: str = "auto",
    test_subset: int | None = None,
    eval_batch: int | None = None,
) -> list[dict[str, Any]]:
    """Test accuracy of a trained run versus the test-time DSTD steps M (paper Fig. 13, Appendix E).

    Each M is evaluated ``n_eval`` times with fresh random offsets and spike noise (the run's
    ``eval_offset`` and ``sigma``), on the run's test set (or a stratified subset of
    ``test_subset`` images). Returns ``[{"m", "acc", "acc_std", "accs"}, …]`` (fractions).
    """
    dev = resolve_device(device)
    model, cfg = load_model(run_dir, dev)
    if eval_batch is not None:
        cfg = cfg.replace(eval_batch=int(eval_batch))
    d = data_mod.load_dataset(cfg.dataset, test_subset=test_subset or cfg.test_subset, seed=cfg.seed,
                              root=cfg.data_dir)
    test_t, test_y = d.test_t.to(dev), d.test_y.to(dev)
    out = []
    for m in m_values:
        model.set_dstd(eval_steps=int(m))
        ev = evaluate(model, test_t, test_y, cfg, d.n_classes, n_eval=n_eval)
        out.append({"m": int(m), "acc": ev["acc"], "acc_std": ev["acc_std"], "accs": ev["accs"]})
    return out


# --------------------------------------------------------------------------- Fig. 10a-c


@torch.no_grad()
def ttfs_traces(
    run_dir: str | Path,
    sample: int = 0,
    n_points: int = 300,
    t_end: float | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    r"""Membrane potentials of the last hidden layer and the output layer of a trained TTFS CNN
    for one test image (paper Fig. 10a–c).

    The network runs in evaluation mode (DSTD at its test M, noise as in evaluation) to give
    each layer's input spikes; for the last two layers the potential is then the **exact**
    solution of the IMC-aware neuron for those inputs (:func:`pnnlib.core.neuron.rcspike_exact`
    evaluated at every time point of ``[0, t_end]``, ``t_end`` = the layers' ``t_max`` by
    default), and is held at 0 after the neuron's exact firing time
    (:func:`pnnlib.core.neuron.ttfs_exact`; paper-spec §1.5).

    Returns ``{"t": [n_points], "label", "e_pos", "layers": [{"name", "v": [n_points, N],
    "t_fire": [N], "t_in": [1, N_in]}, …]}`` as numpy arrays (``t_in``: the layer's input spikes).
    """
    dev = resolve_device(device)
    model, cfg = load_model(run_dir, dev)
    if cfg.model != "ttfs_cnn":
        raise ValueError(f"{run_dir} is a {cfg.model!r} run; membrane traces need a ttfs_cnn run")
    d = data_mod.load_dataset(cfg.dataset, test_subset=cfg.test_subset, seed=cfg.seed, root=cfg.data_dir)
    model.eval()
    t = d.test_t[sample : sample + 1].to(dev)
    inputs: list[torch.Tensor] = []
    for layer in model.layers:
        if isinstance(layer, SpikingLayer):
            inputs.append(t)
        t = layer(t)
    spiking = [m for m in model.layers if isinstance(m, (TTFSLinear, TTFSConv2d))]
    t_end = float(t_end if t_end is not None else spiking[-1].t_max)
    grid = torch.linspace(0.0, t_end, n_points, dtype=torch.float64)
    layers = []
    for name, layer, t_in in zip(("last hidden layer", "output layer"), spiking[-2:], inputs[-2:]):
        w = layer.weight.detach().double().cpu()
        # Spike noise can move a time slightly below 0; both exact solvers then start at t = 0.
        x = t_in.double().cpu().flatten(1).clamp(min=0.0)
        t_fire = ttfs_exact(x, w, layer.e_pos, layer.e_neg, layer.v_th)[0]
        v = torch.stack([rcspike_exact(x, w, layer.e_pos, layer.e_neg, t_end=float(tau))[0] for tau in grid])
        v = torch.where(grid[:, None] >= t_fire[None, :], torch.zeros_like(v), v)
        layers.append({"name": name, "v": v.numpy(), "t_fire": t_fire.numpy(), "t_in": x.numpy()})
    return {"t": grid.numpy(), "label": int(d.test_y[sample]), "e_pos": float(cfg.e_pos), "layers": layers}


def first_converged(xs: Sequence[float], accs: Sequence[float], tol: float) -> float:
    """The smallest x whose accuracy is within ``tol`` of the best (points sorted by x); NaN if empty.

    Used for "M at which accuracy converges" (Figs. 5c, 10d) and "|E| from which accuracy has
    converged" (Fig. 10e).
    """
    if not len(xs):
        return math.nan
    order = np.argsort(xs)
    x, a = np.asarray(xs, float)[order], np.asarray(accs, float)[order]
    return float(x[np.argmax(a >= a.max() - tol)])


# --------------------------------------------------------------------------- figures and tables

PAPER_TABLE3: dict[str, dict[float, tuple[float, float]]] = {
    "fmnist_vgg7": {0.0: (1.3, 94.11), 0.005: (1.6, 94.06), 0.01: (3.3, 94.09), 0.02: (8.4, 93.93),
                    0.04: (17.0, 93.63)},
    "cifar10_vgg7": {0.0: (2.3, 89.13), 0.005: (5.9, 88.89), 0.01: (3.3, 88.51), 0.02: (4.6, 88.00),
                     0.04: (17.0, 86.76)},
    "cifar10_vgg7x2": {0.0: (1.1, 90.27), 0.005: (1.8, 90.16), 0.01: (2.0, 90.25), 0.02: (3.7, 89.65),
                       0.04: (15.1, 88.42)},
}
"""Table 3 CNN rows (paper-spec §5): per network and σ_spike, (best |E|, accuracy %)."""

TABLE3_KEYS = {"vgg7_fmnist": "fmnist_vgg7", "vgg7_cifar10": "cifar10_vgg7", "vgg7x2_cifar10": "cifar10_vgg7x2"}
"""Family → the network key of :data:`PAPER_TABLE3` and of the report's ``table3.<key>.…`` values."""


def ann_lines(ax: Any, ann: Sequence[Mapping[str, float]] | None, scaled: Sequence[Mapping[str, float]] | None,
              e_ann: float) -> None:
    """The ANN baselines on an accuracy-vs-|E| axis (green; paper Figs. 5d, 10e): the network
    trained at |E| = ``e_ann`` tested at smaller |E| (solid) and with its weights scaled (dashed)."""
    for curve, style, name in ((ann, "-", f"ANN (trained at |E| = {e_ann:g})"), (scaled, "--", "scaled ANN")):
        if curve:
            c = sorted(curve, key=lambda r: r["e"])
            ax.errorbar([r["e"] for r in c], [100 * r["acc"] for r in c], yerr=[100 * r["acc_std"] for r in c],
                        fmt=style, color="green", capsize=2, label=name)
    ax.legend(fontsize="small")


def plot_traces(axes: Sequence[Any], traces: Mapping[str, Any], n_hidden: int = 30) -> None:
    """Fig. 10a–c: membrane potentials of ``n_hidden`` last-hidden-layer neurons (first axis) and
    of the ten outputs (second axis, the label's neuron bold) from :func:`ttfs_traces`."""
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


def plot_test_time_m(ax: Any, curve: Sequence[Mapping[str, Any]], label: str, train_m: int | None = None,
                     chosen_m: int | None = None) -> None:
    """Fig. 13: accuracy (mean ± std over the evaluations) versus the test-time M."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    c = sorted(curve, key=lambda r: r["m"])
    ax.errorbar([r["m"] for r in c], [100 * r["acc"] for r in c], yerr=[100 * r["acc_std"] for r in c], fmt="o-",
                capsize=2, label=label)
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


def table3_cnn(runs: Mapping[str, Any], m: int, sigmas: Sequence[float]) -> Any:
    """Table 3 CNN rows: per family (``runs``: family → run table of
    :func:`pnnlib.experiments.load_runs`) and σ_spike, the |E| of the best mean accuracy at M = ``m``
    (random offset), that accuracy's mean ± std over seeds, and the paper's values."""
    import pandas as pd

    from pnnlib.pipeline.plotting import table3

    frames = []
    for family, df in runs.items():
        key = TABLE3_KEYS[family]
        t3 = table3(df, m, sigmas, PAPER_TABLE3[key])
        frames.append(t3.assign(network=key).loc[:, ["network", *t3.columns]])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def table3_cnn_markdown(t3: Any, m: int, dataset_label: str) -> str:
    """Markdown rendering of :func:`table3_cnn` (missing entries as "–")."""
    from pnnlib.pipeline.plotting import table3_cells
    names = {"fmnist_vgg7": "Fashion-MNIST VGG7", "cifar10_vgg7": f"{dataset_label} VGG7",
             "cifar10_vgg7x2": f"{dataset_label} VGG7 ×2 width"}
    lines = [
        f"Table 3, CNN rows (RC-Spike, M = {m}, random offset): the |E| of the best mean test accuracy over seeds, "
        "and that mean ± std.",
        "",
        "| network | σ_spike | best \\|E\\| | accuracy (%) | seeds | paper best \\|E\\| | paper accuracy (%) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in t3.to_dict("records"):
        lines.append("| " + " | ".join([names[r["network"]], f"{r['sigma']:g}", *table3_cells(r)]) + " |")
    return "\n".join(lines) + "\n"


def ann_baselines(
    runs: Any,
    m: int,
    ann_e: float,
    seeds: Sequence[int],
    alphas: Sequence[float],
    search_samples: int,
    n_eval: int,
    device: str = "auto",
    cache: str | Path | None = None,
) -> dict[str, Any]:
    """The ANN baselines of an accuracy-vs-|E| panel at training M = ``m`` (paper Figs. 5d, 10e).

    The runs of ``runs`` (a :func:`pnnlib.experiments.load_runs` table) trained at |E| = ``ann_e``
    with M = ``m``, random offset and a seed in ``seeds`` are tested at every smaller |E| of the
    table at that M (:func:`pnnlib.experiments.ann_curve`) and with the weight scaling chosen on
    ``search_samples`` training images over the (α⁺, α⁻) grid ``alphas``²
    (:func:`pnnlib.experiments.scaled_ann_curve`); curves are averaged over the seeds.
    Returns ``{"ann": [...], "scaled": [...], "key": ...}`` (``{}`` without an ANN run), cached in
    the JSON file ``cache`` (reused while its inputs are unchanged).
    """
    import json

    from pnnlib.experiments.baselines import ann_curve, scaled_ann_curve
    from pnnlib.io import write_json_atomic

    if runs is None or not len(runs):
        return {}
    at_m = runs[(runs["steps"] == m) & (runs["offset"] == "random")]
    sel = at_m[np.isclose(at_m["e_pos"], ann_e) & at_m["seed"].isin(list(seeds))]
    paths = sorted(sel["path"])
    test_e = sorted(float(e) for e in at_m["e_pos"].unique() if e < ann_e)
    if not paths or not test_e:
        return {}
    key = {"runs": paths, "e": test_e, "alphas": list(alphas), "search": search_samples, "n_eval": n_eval}
    if cache is not None and Path(cache).is_file():
        old = json.loads(Path(cache).read_text())
        if old.get("key") == key:
            return old

    def mean(curves: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        out = []
        for points in zip(*curves):
            accs = [p["acc"] for p in points]
            std = float(np.std(accs)) if len(accs) > 1 else points[0]["acc_std"]
            out.append({**points[0], "acc": float(np.mean(accs)), "acc_std": std})
        return out

    plain = [ann_curve(p, test_e, n_eval, device) for p in paths]
    scaled = [scaled_ann_curve(p, test_e, alphas, alphas, search_samples, n_eval, device) for p in paths]
    res = {"key": key, "ann": mean(plain), "scaled": mean(scaled)}
    if cache is not None:
        write_json_atomic(Path(cache), json.loads(json.dumps(res, default=float)))
    return res


# --------------------------------------------------------------------------- the stage's plan

SIGMA_FAMILIES = ("vgg7_fmnist", "vgg7_cifar10", "vgg7x2_cifar10")
"""The families whose σ_spike × |E| grids make Figs. 11b, 12 and the Table 3 CNN rows."""

ITEM_GRIDS: dict[str, tuple[tuple[str, str], ...]] = {
    "fig5": (("vgg7_cifar10", "curves"), ("vgg7_cifar10", "m_sweep"), ("vgg7_cifar10", "e_sweep")),
    "fig10": (("ttfs_cnn_fmnist", "m_sweep"), ("ttfs_cnn_fmnist", "e_sweep")),
    "fig11": (("vgg7_fmnist", "sigma_sweep"),),
    "fig12": (("vgg7_cifar10", "sigma_sweep"), ("vgg7x2_cifar10", "sigma_sweep")),
    "table3": tuple((f, "sigma_sweep") for f in SIGMA_FAMILIES),
}
"""Paper figure/table → the (family, grid) pairs whose runs it rests on."""


def check_section(section: Mapping[str, Any], mlp_runs: Mapping[str, Any] | None = None) -> None:
    """Cross-key checks of a profile's ``cnn`` section (raise
    :class:`~pnnlib.pipeline.profiles.ProfileError` naming the keys); ``mlp_runs`` are the MLP
    stage's run ids, which Fig. 13 may name."""
    from pnnlib.pipeline.profiles import ProfileError

    grids = {family: spec["grid"] for family, spec in section["families"].items()}
    for family, fig in (("vgg7_cifar10", "fig5"), ("ttfs_cnn_fmnist", "fig10")):
        if family not in grids:
            continue
        ann_e = section[fig]["ann_e"]
        if ann_e not in grids[family]["e_sweep"] or not any(e < ann_e for e in grids[family]["e_sweep"]):
            raise ProfileError(f"cnn.{fig}.ann_e must be in cnn.families.{family}.grid.e_sweep, with smaller |E| "
                               "to test it at")
    present = [f for f in SIGMA_FAMILIES if f in grids]
    if present and (len({grids[f]["sigma_m"] for f in present}) > 1
                    or any(grids[f]["sigmas"] != grids[present[0]]["sigmas"] for f in present)):
        raise ProfileError(f"cnn.families.{{{','.join(present)}}}.grid: sigmas and sigma_m must agree")


def plan(section: Mapping[str, Any]) -> dict[str, dict[str, TrainConfig]]:
    """``{family: {run_id: TrainConfig}}`` of a profile's ``cnn`` section (per family: ``train``
    overrides of :data:`FAMILIES`, ``grid`` the arguments of its grid function), after
    :func:`check_section`. The one place the CNN runs are planned."""
    check_section(section)
    return {family: cnn_plan(family, spec["train"], **spec["grid"]) for family, spec in section["families"].items()}


def grid_runs(section: Mapping[str, Any], pairs: Sequence[tuple[str, str]]) -> set[str]:
    """``"<family>/<run id>"`` of the runs in the named (family, grid) pairs of a ``cnn`` section."""
    out: set[str] = set()
    for family, grid in pairs:
        spec = section["families"].get(family)
        if spec is None:
            continue
        named = _GRIDS[family](**spec["grid"])
        if grid in named:
            fixed = {**FAMILIES[family], **spec["train"]}
            out |= {f"{family}/{rid}" for rid in expand_grid({grid: named[grid]}, fixed=fixed, id_keys=ID_KEYS)}
    return out


def fig13_models(section: Mapping[str, Any], stage_runs: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The Fig. 13 models of a ``cnn`` section, each checked to name a run of the plan
    (``stage_runs``: ``{"mlp": mlp plan, "<family>": family plan}``); returns ``[{"name", "stage",
    "run", "paper_m"}]``."""
    from pnnlib.pipeline.profiles import ProfileError

    out = []
    for model in section["fig13"]["models"]:
        runs = stage_runs.get(model["stage"], {})
        if model["run"] not in runs:
            raise ProfileError(f"cnn.fig13.models: no run {model['run']} in stage {model['stage']} of this profile "
                               f"(known: {', '.join(sorted(runs)) or 'none'})")
        out.append(dict(model))
    return out
