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
size a parameter (defaults: the paper's values), :func:`cnn_plan` the runs of one family and
:func:`plan` those of a profile's ``cnn`` section (with :func:`check_section`, :func:`ann_plan`,
:func:`fig13_models` and :func:`figure_settings`: everything ``rules/cnn.smk`` declares rules
from). Runs are trained by :func:`pnnlib.train.train` (one ``notebooks/run_train.ipynb`` per run);
derived data are files of their own: the ANN baselines (``python -m pnnlib.experiments.baselines``)
and the accuracy versus test-time M of Fig. 13 (:func:`test_time_m`, ``python -m
pnnlib.experiments.cnn test-m``). The values, claims and tables of the figure notebooks
(``fig5_*``, ``fig10_*``, ``fig11b_12_*``, ``fig13_*``) are computed by
:mod:`pnnlib.experiments.cnn_records`.

Settings the paper does not give ([open], paper-spec §8): the CNN epoch count (we keep the
MLP's 50 for RC-Spike), the RC-Spike initialisation (:data:`VGG7_INIT_GAIN`, He-style), the |E|
sweep values (RC-Spike: the log grid :data:`pnnlib.experiments.PAPER_E_GRID`; TTFS:
:data:`TTFS_E_GRID`, √2 steps through the paper's 2.0, 2.8 and 31.6), the CIFAR-10 augmentation
(:mod:`pnnlib.data.cifar`).

Slightly over ~400 lines: the four families' grids and the cross-key checks of the ``cnn``
section refer to each other (a check names the grid it guards), so they stay in one module; the
records live in :mod:`pnnlib.experiments.cnn_records`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from pnnlib import data as data_mod
from pnnlib.core.neuron import rcspike_exact, ttfs_exact
from pnnlib.experiments.mlp import ID_KEYS, PAPER_E_GRID, PAPER_SIGMAS, mlp_grids
from pnnlib.nn.layers import SpikingLayer, TTFSConv2d, TTFSLinear
from pnnlib.pipeline.profiles import expand_grid
from pnnlib.train import TrainConfig, eval_rng, evaluate, load_model, resolve_device

__all__ = [
    "ANN_FAMILIES",
    "FAMILIES",
    "ITEM_GRIDS",
    "SIGMA_FAMILIES",
    "TTFS_E_GRID",
    "TTFS_SETTINGS",
    "VGG7_INIT_GAIN",
    "ann_plan",
    "check_section",
    "cnn_plan",
    "fig13_models",
    "figure_settings",
    "grid_runs",
    "main",
    "plan",
    "rc_cnn_grids",
    "sigma_grids",
    "test_time_m",
    "ttfs_grids",
    "ttfs_traces",
]

TTFS_SETTINGS: dict[str, Any] = {
    "lr": 2e-4,
    "gamma1": 0.02,
    "t_ref": 3.2,
    "tau_soft": 0.07,
    "gamma2": 8e-6,
    "epochs": 150,
    "steps": 30,
    "eval_steps": 60,
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
    "vgg7_cifar10": {
        "model": "vgg7",
        "dataset": "cifar10",
        "width": 1.0,
        "init_gain": VGG7_INIT_GAIN,
        "eval_batch": 100,
    },
    "vgg7x2_cifar10": {
        "model": "vgg7",
        "dataset": "cifar10",
        "width": 2.0,
        "init_gain": VGG7_INIT_GAIN,
        "eval_batch": 50,
    },
    "vgg7_fmnist": {
        "model": "vgg7",
        "dataset": "fashion_mnist",
        "width": 1.0,
        "init_gain": VGG7_INIT_GAIN,
        "eval_batch": 100,
    },
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
    grids = mlp_grids(
        seeds=seeds,
        sigma=sigma,
        curve_e=curve_e,
        curve_m=curve_m,
        offsets=offsets,
        m_sweep_e=m_sweep_e,
        m_sweep=m_sweep,
        e_sweep=e_sweep,
        e_sweep_m=e_sweep_m,
        sigmas=sigmas,
        sigma_m=sigma_m,
    )
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
    return rc_cnn_grids(
        seeds=seeds, curve_e=(), m_sweep_e=(), e_sweep=e_sweep, e_sweep_m=(), sigmas=sigmas, sigma_m=sigma_m
    )


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
    grids = mlp_grids(
        seeds=seeds,
        sigma=sigma,
        curve_e=(),
        offsets=offsets,
        m_sweep_e=m_sweep_e,
        m_sweep=m_sweep,
        e_sweep=e_sweep,
        e_sweep_m=e_sweep_m,
        sigmas=(),
    )
    return {_RC_GRID_NAMES[name]: g for name, g in grids.items()}


_GRIDS = {
    "vgg7_cifar10": rc_cnn_grids,
    "vgg7x2_cifar10": sigma_grids,
    "vgg7_fmnist": sigma_grids,
    "ttfs_cnn_fmnist": ttfs_grids,
}


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
) -> dict[str, Any]:
    """Test accuracy of a trained run versus the test-time DSTD steps M (paper Fig. 13, Appendix E).

    Each M is evaluated ``n_eval`` times with fresh random offsets and spike noise (the run's
    ``eval_offset`` and ``sigma``), on the run's test set (or a stratified subset of
    ``test_subset`` images); the draws of M come from a generator seeded by the run's seed and
    ``"test-m/m=<M>"`` (:func:`pnnlib.train.evaluate`), so the same call gives the same numbers.
    Returns ``{"model", "train_m", "n_classes", "n_test", "curve": [{"m", "acc", "acc_std",
    "accs"}, …]}`` (accuracies as fractions).
    """
    dev = resolve_device(device)
    model, cfg = load_model(run_dir, dev)
    if eval_batch is not None:
        cfg = cfg.replace(eval_batch=int(eval_batch))
    d = data_mod.load_dataset(cfg.dataset, test_subset=test_subset or cfg.test_subset, seed=cfg.seed, root=cfg.data_dir)
    test_t, test_y = d.test_t.to(dev), d.test_y.to(dev)
    curve = []
    for m in m_values:
        model.set_dstd(eval_steps=int(m))
        ev = evaluate(model, test_t, test_y, cfg, d.n_classes, n_eval=n_eval, key=f"test-m/m={int(m)}")
        curve.append({"m": int(m), "acc": ev["acc"], "acc_std": ev["acc_std"], "accs": ev["accs"]})
    return {
        "model": cfg.model,
        "train_m": int(cfg.steps),
        "n_classes": int(d.n_classes),
        "n_test": len(test_y),
        "curve": curve,
    }


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

    The network runs in evaluation mode (DSTD at its test M, noise as in evaluation, drawn from
    a generator seeded by the run's seed and the sample: the same call gives the same traces) to
    give each layer's input spikes; for the last two layers the potential is then the **exact**
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
    with eval_rng(model, cfg.seed, f"traces/sample={sample}"):
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


# --------------------------------------------------------------------------- the stage's plan

SIGMA_FAMILIES = ("vgg7_fmnist", "vgg7_cifar10", "vgg7x2_cifar10")
"""The families whose σ_spike × |E| grids make Figs. 11b, 12 and the Table 3 CNN rows."""

ANN_FAMILIES = {"fig5": "vgg7_cifar10", "fig10": "ttfs_cnn_fmnist"}
"""Figure → the family whose accuracy-vs-|E| panels carry the ANN baselines (Figs. 5d, 10e)."""

ITEM_GRIDS: dict[str, tuple[tuple[str, str], ...]] = {
    "fig5": (("vgg7_cifar10", "curves"), ("vgg7_cifar10", "m_sweep"), ("vgg7_cifar10", "e_sweep")),
    "fig10": (("ttfs_cnn_fmnist", "m_sweep"), ("ttfs_cnn_fmnist", "e_sweep")),
    "fig11": (("vgg7_fmnist", "sigma_sweep"),),
    "fig12": (("vgg7_cifar10", "sigma_sweep"), ("vgg7x2_cifar10", "sigma_sweep")),
    "table3": tuple((f, "sigma_sweep") for f in SIGMA_FAMILIES),
}
"""Paper figure/table → the (family, grid) pairs whose runs it rests on."""


def check_section(section: Mapping[str, Any]) -> None:
    """Cross-key checks of a profile's ``cnn`` section (raise
    :class:`~pnnlib.pipeline.profiles.ProfileError` naming the keys)."""
    from pnnlib.pipeline.profiles import ProfileError

    grids = {family: spec["grid"] for family, spec in section["families"].items()}
    for fig, family in ANN_FAMILIES.items():
        ann_e = section[fig]["ann_e"]
        if ann_e not in grids[family]["e_sweep"] or not any(e < ann_e for e in grids[family]["e_sweep"]):
            raise ProfileError(
                f"cnn.{fig}.ann_e must be in cnn.families.{family}.grid.e_sweep, with smaller |E| to test it at"
            )
        if not set(section[fig]["ann_seeds"]) <= set(grids[family]["seeds"]):
            raise ProfileError(f"cnn.{fig}.ann_seeds must be a subset of cnn.families.{family}.grid.seeds")
    if len({grids[f]["sigma_m"] for f in SIGMA_FAMILIES}) > 1 or any(
        grids[f]["sigmas"] != grids[SIGMA_FAMILIES[0]]["sigmas"] for f in SIGMA_FAMILIES
    ):
        raise ProfileError(f"cnn.families.{{{','.join(SIGMA_FAMILIES)}}}.grid: sigmas and sigma_m must agree")


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


def ann_plan(section: Mapping[str, Any], fig: str) -> dict[int, dict[str, list]]:
    """The ANN baselines of a figure's accuracy-vs-|E| panels (``fig``: ``"fig5"`` or ``"fig10"``,
    paper Figs. 5d, 10e): per training M of the panels, ``{"runs": [run ids], "e": [test |E|]}``,
    the runs trained at |E| = ``ann_e`` (random offset, the grid's σ_spike, a seed of
    ``ann_seeds``) and the smaller |E| of the panel they are tested at."""
    family = ANN_FAMILIES[fig]
    spec, settings = section["families"][family], section[fig]
    ann_e, sigma = float(settings["ann_e"]), float(spec["grid"]["sigma"])
    runs = cnn_plan(family, spec["train"], **spec["grid"])
    out = {}
    for m in spec["grid"]["e_sweep_m"]:
        at_m = {rid: c for rid, c in runs.items() if c.steps == m and c.offset == "random" and c.sigma == sigma}
        ids = sorted(rid for rid, c in at_m.items() if c.e_pos == ann_e and c.seed in settings["ann_seeds"])
        test_e = sorted({c.e_pos for c in at_m.values() if c.e_pos < ann_e})
        if ids and test_e:
            out[int(m)] = {"runs": ids, "e": test_e}
    return out


def fig13_models(
    section: Mapping[str, Any], stage_runs: Mapping[str, Mapping[str, TrainConfig]]
) -> list[dict[str, Any]]:
    """The Fig. 13 models of a ``cnn`` section, each checked to name a run of the plan
    (``stage_runs``: ``{"mlp": mlp plan, "<family>": family plan}``) whose training M and the
    paper's test M are among ``fig13.test_m`` (the claims compare the two); returns ``[{"name",
    "stage", "run", "paper_m", "train_m"}]``."""
    from pnnlib.pipeline.profiles import ProfileError

    test_m = section["fig13"]["test_m"]
    out = []
    for model in section["fig13"]["models"]:
        runs = stage_runs.get(model["stage"], {})
        if model["run"] not in runs:
            raise ProfileError(
                f"cnn.fig13.models: no run {model['run']} in stage {model['stage']} of this profile "
                f"(known: {', '.join(sorted(runs)) or 'none'})"
            )
        train_m = int(runs[model["run"]].steps)
        if not {train_m, model["paper_m"]} <= set(test_m):
            raise ProfileError(
                f"cnn.fig13.test_m must hold the training M ({train_m}) and paper_m "
                f"({model['paper_m']}) of the model {model['name']!r}"
            )
        out.append({**model, "train_m": train_m})
    return out


def figure_settings(section: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The settings each figure notebook hands to :mod:`pnnlib.experiments.cnn_records`, from a
    ``cnn`` section: ``{"fig5", "fig10", "sigma", "fig13"}`` (grid values the figure shows and
    its own tolerances; see the record functions)."""
    rc, tt = section["families"]["vgg7_cifar10"]["grid"], section["families"]["ttfs_cnn_fmnist"]["grid"]
    f5, f10, f13 = section["fig5"], section["fig10"], section["fig13"]
    sweep = section["families"][SIGMA_FAMILIES[0]]["grid"]
    panels = ("offsets", "m_sweep_e", "m_sweep", "e_sweep_m")
    return {
        "fig5": {
            "sigma_main": rc["sigma"],
            "curve_e": rc["curve_e"],
            "curve_m": rc["curve_m"],
            **{k: rc[k] for k in panels},
            "ann_e": f5["ann_e"],
            "saturation_tol": f5["saturation_tol"],
        },
        "fig10": {
            "sigma_main": tt["sigma"],
            "e_sweep": tt["e_sweep"],
            **{k: tt[k] for k in panels},
            **{
                k: f10[k]
                for k in (
                    "ann_e",
                    "saturation_tol",
                    "degrade_tol",
                    "trace_e",
                    "trace_m",
                    "trace_sample",
                    "trace_points",
                )
            },
        },
        "sigma": {"sigmas": sweep["sigmas"], "sigma_m": sweep["sigma_m"]},
        "fig13": {"n_eval": f13["n_eval"], "saturation_tol": f13["saturation_tol"]},
    }


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pnnlib.experiments.cnn test-m``: the accuracy of a trained run versus the
    test-time M (:func:`test_time_m`, paper Fig. 13) as a JSON file, a derived-data rule of the
    pipeline: ``{"inputs_hash", "inputs", "result"}``, the inputs naming the run's config hash and
    weights."""
    from pnnlib.io import sha256_file, write_json_atomic
    from pnnlib.pipeline.archive import config_hash, inputs_hash

    p = argparse.ArgumentParser(prog="python -m pnnlib.experiments.cnn", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("test-m", help="accuracy versus the test-time M of a trained run (Fig. 13)")
    t.add_argument("--run", required=True, type=Path, help="finished run directory")
    t.add_argument("--m", nargs="+", required=True, type=int, help="test-time M values")
    t.add_argument("--n-eval", required=True, type=int, help="evaluations per M")
    t.add_argument("--test-subset", type=int, default=None, help="test images (default: the run's test set)")
    t.add_argument("--eval-batch", type=int, default=None, help="evaluation batch (default: the run's)")
    t.add_argument("--device", default="auto")
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("--out", required=True, type=Path)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TrainConfig.from_yaml(args.run / "config.yaml")
    inputs = {
        "run": args.run.name,
        "config_hash": config_hash(cfg),
        "weights_sha256": sha256_file(args.run / "weights.pt"),
        "m": args.m,
        "n_eval": args.n_eval,
        "test_subset": args.test_subset,
        "eval_batch": args.eval_batch,
    }
    result = test_time_m(args.run, args.m, args.n_eval, args.device, args.test_subset, args.eval_batch)
    write_json_atomic(args.out, {"inputs_hash": inputs_hash(inputs), "inputs": inputs, "result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
