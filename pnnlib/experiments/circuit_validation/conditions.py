r"""Beyond the paper: does the physical model keep its advantage across process corners, temperature
and device mismatch? (our extension; the paper validates one corner on one layout, paper-spec §6)

The two networks the validation trained at the reference condition (tt, 27 °C; :func:`load_networks`)
are simulated in ngspice elsewhere and compared with their own models exactly as in the validation
(:func:`compare`: output spike-time RMSE over all 5 outputs and over the 3 class outputs, hidden-layer
RMSE, SPICE accuracy). At each corner / temperature (:func:`study_condition`):

* **calibrated** — a chip calibrated per die: its devices characterised there (the I_D(V_G) tables of
  the weight mapping, the discharger bias trimmed to the reference's no-input firing time,
  :mod:`pnnlib.circuit.conditions`) and each mapping's own current-scale search
  (:func:`~.validation.validate_mapping`, 2-D top-down, 1-D bottom-up, starting at the reference scale);
* **uncalibrated** — the reference's gate biases, scales and discharger bias kept: what a chip without
  per-die calibration sees;
* **retrained** — the bottom-up network trained again with the condition's E⁺, E⁻, E_dis, then as
  calibrated: what corner-aware training recovers.

**Mismatch** (:func:`mismatch_study`): Monte Carlo instances of the chip at the reference condition.
sky130's ``<corner>_mm`` library sections set ``MC_MM_SWITCH = 1``, so every transistor instance
draws its own threshold (and other) offsets with ``AGAUSS`` (σ_Vth ∝ 1/√(WL), ``mismatch_factor``
= 1); an instance is an ngspice seed (``.options seed``, written into each of its decks, so any
instance reruns by hand). Both networks use the same seed on an identical netlist structure, so they
run on the same "chip" (paired). Biases and scales are the reference's (no per-die calibration).

**The claim** "the bottom-up advantage holds across corners, temperature and mismatch" is left to be
decided from :func:`advantage_statistics`: per condition the ratio top-down / bottom-up RMSE, and
over the mismatch instances the fraction where bottom-up's RMSE is the smaller one, with a 95 %
Clopper–Pearson interval.

About 400 lines: the study's three parts (conditions, mismatch, the statistics of the claim)
share the comparison (:func:`compare`) and the network loading; the figures are in the notebook.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import beta

from pnnlib import io
from pnnlib.circuit import Characterisation, CircuitParams, SimulationResult, WeightMapping, simulate_network
from pnnlib.circuit.conditions import Condition, condition_grid

from .readout import (
    CLASS_OUTPUTS,
    MAPPINGS,
    NeuronModel,
    accuracy,
    model_forward,
    neuron_model,
    spice_times,
    spike_rmse_ns,
)
from .training import load_characterisation, train_iris, trained_weights
from .validation import MappingValidation, validate_mapping


@dataclass(frozen=True)
class Network:
    """A trained, pruned network as the validation mapped it.

    Attributes:
        name: its mapping, ``"top_down"`` or ``"bottom_up"``.
        model: the neuron model it was trained with (and is compared with).
        w_hidden, w_out: weights ``[5, 5]`` (pruned).
        scale: (α⁺, α⁻) chosen at the reference condition.
    """

    name: str
    model: NeuronModel
    w_hidden: np.ndarray
    w_out: np.ndarray
    scale: tuple[float, float]


def load_networks(validation_dir: str | os.PathLike[str]) -> dict[str, Network]:
    """The two networks of a finished validation (``validation.json`` and ``validation.npz`` of
    notebooks/run_circuit_validation.ipynb)."""
    d = Path(validation_dir)
    val = io.read_json(d / "validation.json")
    arr = np.load(d / "validation.npz")
    out = {}
    for name in MAPPINGS:
        m, s = val["mappings"][name]["model"], val["mappings"][name]["scale"]
        out[name] = Network(
            name,
            NeuronModel(m["e_pos"], m["e_neg"], m["e_dis"]),
            np.asarray(arr[f"{name}_w_hidden"], float),
            np.asarray(arr[f"{name}_w_out"], float),
            (float(s["alpha_pos"]), float(s["alpha_neg"])),
        )
    return out


def sample_errors(t_model: np.ndarray, t_spice: np.ndarray, t_circ: float) -> dict[str, list[float]]:
    """Per test sample, the mean squared output spike-time difference [ns²] over all outputs
    (``sample_sq_ns2``) and over the class outputs (``sample_sq_class_ns2``): the RMSE is the root
    of their mean, and :func:`ratio_interval` resamples them."""
    d = (np.asarray(t_model) - np.asarray(t_spice)) * t_circ * 1e9
    return {
        "sample_sq_ns2": np.mean(d**2, 1).tolist(),
        "sample_sq_class_ns2": np.mean(d[:, :CLASS_OUTPUTS] ** 2, 1).tolist(),
    }


def validation_settings(validation_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """What the study takes over from the validation it builds on: ``prune_below``, ``grid_step``
    and the bottom-up training settings (``t_ref``, ``steps``, ``sigma``, ``device``) for
    retraining."""
    val = io.read_json(Path(validation_dir) / "validation.json")
    cfg = val["training"]["bottom_up"]["config"]
    return {
        "prune_below": val["settings"]["prune_below"],
        "grid_step": val["settings"]["grid_step"],
        "train": {k: cfg[k] for k in ("t_ref", "steps", "sigma", "device")},
    }


def load_conditions(
    device_conditions: str | os.PathLike[str], corners: Sequence[str], temperatures: Sequence[float]
) -> tuple[Characterisation, list[tuple[Condition, Characterisation]]]:
    """The reference characterisation and, for the conditions of :func:`condition_grid` (reference
    first), those the devices stage wrote (``device_conditions.json`` of
    notebooks/fig_device_conditions.ipynb).

    Raises:
        ValueError: a condition the devices stage did not characterise (add it to its profile).
    """
    dev = io.read_json(device_conditions)
    files = dev["characterisations"]
    ref = Condition(dev["reference"]["corner"], dev["reference"]["temp_c"])
    out = []
    for c in condition_grid(list(corners), list(temperatures), ref):
        if c.name not in files:
            raise ValueError(
                f"condition {c.name} was not characterised by the devices stage ({device_conditions} "
                f"has {', '.join(files)}): add it to the profile's devices.conditions"
            )
        out.append((c, load_characterisation(files[c.name])))
    return out[0][1], out


def compare(model_out: dict[str, np.ndarray], sim: SimulationResult, labels: np.ndarray) -> dict[str, Any]:
    """Model versus SPICE as in the validation: RMSE [ns] of the output spike times over all outputs
    (``rmse_ns``) and over the class outputs (``rmse_class_ns``), of the hidden layer, the accuracy
    of the exact model and of SPICE (earliest class output), and :func:`sample_errors`."""
    t_circ = sim.params.t_circ
    t2, t1 = spice_times(sim, 2), spice_times(sim, 1)
    return {
        "rmse_ns": spike_rmse_ns(model_out["t2"], t2, t_circ),
        "rmse_class_ns": spike_rmse_ns(model_out["t2"][:, :CLASS_OUTPUTS], t2[:, :CLASS_OUTPUTS], t_circ),
        "rmse_hidden_ns": spike_rmse_ns(model_out["t1"], t1, t_circ),
        "accuracy_model": accuracy(model_out["t2"], labels),
        "accuracy_spice": accuracy(t2, labels),
        **sample_errors(model_out["t2"], t2, t_circ),
        "decks": [str(p) for p in sim.decks],
        "cached": all(sim.cached),
    }


def simulate_fixed(
    net: Network,
    x: np.ndarray,
    labels: np.ndarray,
    *,
    mapping: WeightMapping,
    params: CircuitParams,
    out_dir: str | os.PathLike[str],
    name: str | None = None,
    samples_per_deck: int = 5,
    workers: int = 1,
) -> dict[str, Any]:
    """Simulate ``net`` at its own (reference) scale with ``mapping``'s gate biases under ``params``
    (no search) and :func:`compare` it with its model."""
    sim = simulate_network(
        net.w_hidden,
        net.w_out,
        x,
        out_dir=out_dir,
        scale=net.scale,
        characterisation=mapping,
        params=params,
        name=name or net.name,
        samples_per_deck=min(samples_per_deck, len(x)),
        workers=workers,
    )
    return {"scale": list(net.scale), **compare(model_forward(net.w_hidden, net.w_out, x, net.model), sim, labels)}


def validation_summary(v: MappingValidation, labels: np.ndarray) -> dict[str, Any]:
    """The numbers of a :func:`~.validation.validate_mapping` result that the study keeps."""
    return {
        "scale": list(v.scale),
        "rmse_ns": v.rmse_ns,
        "rmse_class_ns": v.rmse_class_ns,
        "rmse_hidden_ns": v.rmse_hidden_ns,
        "accuracy_model": accuracy(v.t_model[1], labels),
        "accuracy_spice": accuracy(v.t_spice[1], labels),
        **sample_errors(v.t_model[1], v.t_spice[1], v.sim.params.t_circ),
        "search_rounds": len(v.search.rounds),
        "search_spice_points": len(v.search.measured),
        "decks": [str(p) for p in v.sim.decks],
        "cached": v.cached,
    }


#: Bootstrap resamples of :func:`ratio_interval` and the seed of their generator.
N_BOOTSTRAP, BOOTSTRAP_SEED = 2000, 0


def ratio_interval(
    sq_top_down: Sequence[float],
    sq_bottom_up: Sequence[float],
    level: float = 0.95,
    n_boot: int = N_BOOTSTRAP,
    seed: int = BOOTSTRAP_SEED,
) -> list[float]:
    """Percentile-bootstrap interval of the ratio top-down / bottom-up RMSE over test samples
    resampled together (both mappings saw the same samples), from :func:`sample_errors`."""
    a, b = np.asarray(sq_top_down, float), np.asarray(sq_bottom_up, float)
    idx = np.random.default_rng(seed).integers(0, a.size, (n_boot, a.size))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sqrt(a[idx].mean(1) / b[idx].mean(1))
    lo, hi = np.quantile(r, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def _ratio(a: float, b: float) -> float:
    """a / b, with a / 0 = inf (a > 0) and 0 / 0 = nan instead of an error."""
    return float(np.divide(a, b)) if b else (float("inf") if a else float("nan"))


def ratios(top_down: dict[str, Any], bottom_up: dict[str, Any], level: float = 0.95) -> dict[str, Any]:
    """Top-down / bottom-up RMSE over all outputs and over the class outputs (> 1: bottom-up
    closer), each with its :func:`ratio_interval` over the test samples."""
    return {
        "ratio": _ratio(top_down["rmse_ns"], bottom_up["rmse_ns"]),
        "ratio_ci": ratio_interval(top_down["sample_sq_ns2"], bottom_up["sample_sq_ns2"], level),
        "ratio_class": _ratio(top_down["rmse_class_ns"], bottom_up["rmse_class_ns"]),
        "ratio_class_ci": ratio_interval(top_down["sample_sq_class_ns2"], bottom_up["sample_sq_class_ns2"], level),
    }


@dataclass(frozen=True)
class StudySettings:
    """Settings of :func:`study_condition` (the profile's ``circuit.conditions`` section).

    Attributes:
        search_samples, design_steps, design_2d, grid_step, rounds, samples_per_deck, prune_below:
            as in :func:`~.validation.validate_mapping` (``design_steps`` per mapping).
        workers: parallel ngspice processes.
        retrain: train the bottom-up network again with each condition's E±, E_dis.
        retrain_seeds: seeds of that training (the lowest final training loss is kept).
        train: other training settings (``epochs``, ``t_ref``, ``steps``, ``sigma``, ``device``, ...).
    """

    search_samples: int
    design_steps: dict[str, float]
    design_2d: str
    grid_step: float
    rounds: int
    samples_per_deck: int
    prune_below: float
    workers: int
    retrain: bool
    retrain_seeds: Sequence[int]
    train: dict[str, Any]


def study_condition(
    condition: Condition,
    char: Characterisation,
    reference: Characterisation,
    networks: dict[str, Network],
    x: np.ndarray,
    labels: np.ndarray,
    *,
    out_dir: str | os.PathLike[str],
    settings: StudySettings,
    reference_dir: str | os.PathLike[str],
) -> dict[str, Any]:
    """Calibrated, uncalibrated and retrained comparisons at one condition (module docstring).

    Args:
        condition: the corner and temperature.
        char: the devices characterised there (:func:`pnnlib.circuit.conditions.characterise_condition`,
            discharger trimmed); ``reference`` at the reference condition.
        networks: the two networks trained at the reference (:func:`load_networks`).
        x, labels: test samples ``[S, 5]`` (the first ``settings.search_samples`` search the scale)
            and their classes.
        out_dir: this condition's ngspice runs and retraining.
        reference_dir: the validation's ngspice run directory: at the reference condition the
            networks are simulated exactly as the validation did (the same decks, read from its cache).
    """
    out = Path(out_dir)
    ref_params = CircuitParams(**reference.params)
    row: dict[str, Any] = {
        "condition": condition.to_dict(),
        "reference": condition == Condition(reference.corner, reference.temp_c),
    }
    s = settings
    if row["reference"]:
        fixed = {
            n: simulate_fixed(
                net,
                x,
                labels,
                mapping=reference.mapping(),
                params=ref_params,
                out_dir=reference_dir,
                samples_per_deck=s.samples_per_deck,
                workers=s.workers,
            )
            for n, net in networks.items()
        }
        row["calibrated"] = row["uncalibrated"] = {**fixed, **ratios(fixed["top_down"], fixed["bottom_up"])}
        row["retrained_bottom_up"] = {
            **fixed["bottom_up"],
            "model": networks["bottom_up"].model.to_dict(),
            "versus_top_down": ratios(fixed["top_down"], fixed["bottom_up"]),
        }
        return row

    def validate(
        name: str, net_model: NeuronModel, w1: np.ndarray, w2: np.ndarray, center: tuple[float, float], run_dir: Path
    ) -> dict[str, Any]:
        v = validate_mapping(
            name,
            w1,
            w2,
            x,
            net_model,
            char.mapping(),
            out_dir=run_dir,
            search_samples=s.search_samples,
            design_step=s.design_steps[name],
            design_2d=s.design_2d,
            grid_step=s.grid_step,
            rounds=s.rounds,
            prune_below=s.prune_below,
            samples_per_deck=s.samples_per_deck,
            workers=s.workers,
            center=center,
        )
        return validation_summary(v, labels)

    cal = {
        n: validate(n, net.model, net.w_hidden, net.w_out, net.scale, out / "calibrated") for n, net in networks.items()
    }
    row["calibrated"] = {**cal, **ratios(cal["top_down"], cal["bottom_up"])}
    # the chip as programmed at the reference: its biases and discharger bias, at the condition
    params = replace(condition.params(ref_params), vb_dis=ref_params.vb_dis)
    unc = {
        n: simulate_fixed(
            net,
            x,
            labels,
            mapping=reference.mapping(),
            params=params,
            out_dir=out / "uncalibrated",
            samples_per_deck=s.samples_per_deck,
            workers=s.workers,
        )
        for n, net in networks.items()
    }
    row["uncalibrated"] = {**unc, **ratios(unc["top_down"], unc["bottom_up"])}
    if s.retrain:
        run, seeds = train_iris("bottom_up", char, out / "train", s.retrain_seeds, **s.train)
        w1, w2 = trained_weights(run)
        model = neuron_model("bottom_up", char)
        bu = validate("bottom_up", model, w1, w2, networks["bottom_up"].scale, out / "retrained")
        row["retrained_bottom_up"] = {
            **bu,
            "model": model.to_dict(),
            "run_dir": str(run),
            "seeds": seeds,
            "versus_top_down": ratios(cal["top_down"], bu),
        }
    return row


def mismatch_study(
    networks: dict[str, Network],
    x: np.ndarray,
    labels: np.ndarray,
    *,
    reference: Characterisation,
    seeds: Sequence[int],
    out_dir: str | os.PathLike[str],
    samples_per_deck: int = 5,
    workers: int = 2,
) -> list[dict[str, Any]]:
    """Both networks on each Monte Carlo instance (seed) of the chip at the reference condition, with
    the reference's biases and scales (module docstring). One row per seed: its ``seed``, per network
    :func:`compare`'s numbers (with the decks, each holding ``.options seed=<seed>``), the
    :func:`ratios` and whether bottom-up's RMSE is the smaller (``bottom_up_closer``, ``..._class``)."""
    mapping, base = reference.mapping(), CircuitParams(**reference.params)
    todo = [(seed, net) for seed in seeds for net in networks.values()]

    def one(item: tuple[int, Network]) -> dict[str, Any]:
        seed, net = item
        return simulate_fixed(
            net,
            x,
            labels,
            mapping=mapping,
            params=replace(base, mismatch_seed=int(seed)),
            out_dir=out_dir,
            name=f"{net.name}-mc{seed}",
            samples_per_deck=samples_per_deck,
        )

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        done = {(seed, net.name): r for (seed, net), r in zip(todo, pool.map(one, todo), strict=True)}
    rows = []
    for seed in seeds:
        per = {name: done[(seed, name)] for name in networks}
        r = ratios(per["top_down"], per["bottom_up"])
        rows.append(
            {
                "seed": int(seed),
                **per,
                **r,
                "bottom_up_closer": bool(r["ratio"] > 1),
                "bottom_up_closer_class": bool(r["ratio_class"] > 1),
            }
        )
    return rows


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval of a binomial proportion ``k / n``."""
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def advantage_statistics(
    rows: list[dict[str, Any]], mismatch: list[dict[str, Any]], level: float = 0.95
) -> dict[str, Any]:
    """Statistics the claim "the bottom-up advantage holds across corners, temperature and mismatch"
    is decided on (no verdict here): per variant (calibrated, uncalibrated, retrained bottom-up
    against the calibrated top-down) the smallest ratio top-down / bottom-up RMSE over the conditions,
    where it occurs and its bootstrap interval over the test samples, and how many conditions have a
    ratio > 1 (and an interval above 1); over the mismatch instances the
    number and fraction where bottom-up is closer, its Clopper–Pearson interval and the ratio's
    quantiles. Each over all outputs and over the class outputs (``*_class``)."""
    out: dict[str, Any] = {
        "claim": "the bottom-up advantage holds across corners, temperature and mismatch",
        "conditions": {},
        "level": level,
    }

    def ratio_block(row: dict[str, Any], variant: str) -> dict[str, Any]:
        return row[variant]["versus_top_down"] if variant == "retrained_bottom_up" else row[variant]

    for variant in ("calibrated", "uncalibrated", "retrained_bottom_up"):
        have = [r for r in rows if variant in r]
        for suffix in ("", "_class"):
            blocks = [ratio_block(r, variant) for r in have]
            vals = np.array([b[f"ratio{suffix}"] for b in blocks])
            if not vals.size:
                continue
            k = int(np.argmin(vals))
            out["conditions"][f"{variant}{suffix}"] = {
                "n": int(vals.size),
                "ratio_min": float(vals[k]),
                "ratio_min_condition": have[k]["condition"]["name"],
                "ratio_min_ci": blocks[k][f"ratio{suffix}_ci"],
                "ratio_median": float(np.median(vals)),
                "n_bottom_up_closer": int((vals > 1).sum()),
                "n_bottom_up_closer_ci_above_1": int(sum(b[f"ratio{suffix}_ci"][0] > 1 for b in blocks)),
                "ratios": {
                    r["condition"]["name"]: {"ratio": b[f"ratio{suffix}"], "ci": b[f"ratio{suffix}_ci"]}
                    for r, b in zip(have, blocks, strict=True)
                },
            }
    if mismatch:
        n = len(mismatch)
        out["mismatch"] = {"n": n}
        for suffix in ("", "_class"):
            k = sum(r[f"bottom_up_closer{suffix}"] for r in mismatch)
            ratio = np.array([r[f"ratio{suffix}"] for r in mismatch])
            out["mismatch"][f"bottom_up_closer{suffix}"] = {
                "k": int(k),
                "fraction": k / n,
                "ci": list(clopper_pearson(k, n, level)),
                "ratio_quantiles": dict(
                    zip(("q05", "q50", "q95"), np.quantile(ratio, [0.05, 0.5, 0.95]).tolist(), strict=True)
                ),
            }
    return out


#: The comparisons of one condition, in table order: (key of the row, label).
VARIANTS = (
    ("calibrated", "calibrated (own scale search)"),
    ("uncalibrated", "uncalibrated (tt biases, scales)"),
    ("retrained_bottom_up", "bottom-up retrained, vs calibrated top-down"),
)


def table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flat rows (condition × variant) of :func:`study_condition` results for the extension's table:
    RMSEs over all / class outputs, the ratio with its interval, SPICE accuracies and scales."""
    out = []
    for row in rows:
        for variant, label in VARIANTS:
            if variant not in row:
                continue
            v = row[variant]
            td = row["calibrated"]["top_down"] if variant == "retrained_bottom_up" else v["top_down"]
            bu = v if variant == "retrained_bottom_up" else v["bottom_up"]
            r = v["versus_top_down"] if variant == "retrained_bottom_up" else v
            out.append(
                {
                    "condition": row["condition"]["name"],
                    "variant": label,
                    "rmse_td": td["rmse_ns"],
                    "rmse_bu": bu["rmse_ns"],
                    "ratio": r["ratio"],
                    "ratio_ci": "{:.2f}-{:.2f}".format(*r["ratio_ci"]),
                    "rmse_class_td": td["rmse_class_ns"],
                    "rmse_class_bu": bu["rmse_class_ns"],
                    "ratio_class": r["ratio_class"],
                    "ratio_class_ci": "{:.2f}-{:.2f}".format(*r["ratio_class_ci"]),
                    "acc_td": td["accuracy_spice"],
                    "acc_bu": bu["accuracy_spice"],
                    "scale_td": "({:.2f}, {:.2f})".format(*td["scale"]),
                    "scale_bu": f"{bu['scale'][0]:.2f}",
                }
            )
    return out
