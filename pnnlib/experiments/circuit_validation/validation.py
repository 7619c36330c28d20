"""One mapping's validation against ngspice (package docstring, steps 2–5): pruning, the
realisability check, the scale search, the simulation of the test samples and the comparison
(:func:`validate_mapping`, :class:`MappingValidation`); the λ spread over the network's currents
and the rows of paper Table 2.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pnnlib.circuit import (
    Characterisation,
    CircuitParams,
    SimulationResult,
    WeightMapping,
    simulate_network,
)
from pnnlib.circuit.params import SYNAPSE_L_UM, SYNAPSE_W_UM
from pnnlib.core.neuron import rcspike_fire_time

from .readout import (
    CLASS_OUTPUTS,
    MAPPINGS,
    TOP_DOWN_E,
    CircuitReadout,
    NeuronModel,
    model_forward,
    readout_forward,
    spice_times,
    spike_rmse_ns,
)
from .scaling import ScalingSearch, scaling_search


def prune_small(w: np.ndarray, threshold: float) -> np.ndarray:
    """Copy of ``w`` with every :math:`|w_{ij}| <` ``threshold`` set to exactly 0 (switched-off
    synapse). See the package docstring, step 2."""
    w = np.asarray(w, float)
    return np.where(np.abs(w) < threshold, 0.0, w)


def check_realisable(
    mapping: WeightMapping, weights: dict[str, np.ndarray], scales: Iterable[tuple[float, float]]
) -> None:
    """Raise ``ValueError`` (naming the matrix, index, weight and scale) if some weight needs a
    current outside its transistor's realisable range at one of ``scales``.

    Checking the corners of the scaling range suffices: the current is monotone in α.
    """
    for scale in scales:
        for name, w in weights.items():
            try:
                mapping.weights_to_biases(w, scale, name=name)
            except ValueError as err:
                raise ValueError(f"unrealisable at current scale (α⁺, α⁻) = {tuple(scale)}: {err}") from err


def class_interleaved_order(labels: np.ndarray) -> np.ndarray:
    """Permutation of the samples taking the classes in turn (0, 1, 2, 0, 1, 2, …), so that any
    prefix (the scaling-search subset) is class-balanced."""
    labels = np.asarray(labels)
    per_class = [list(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    order = []
    while any(per_class):
        for idx in per_class:
            if idx:
                order.append(idx.pop(0))
    return np.array(order, int)


def network_currents(mapping: WeightMapping, weights: Sequence[np.ndarray], scale: tuple[float, float]) -> np.ndarray:
    """Signed synaptic currents [A] of all nonzero weights at ``scale`` (Fig. 17c, d histogram)."""
    w = np.concatenate([np.ravel(x) for x in weights])
    return mapping.weight_to_current(w[w != 0], scale)


# --------------------------------------------------------------------------- one mapping


@dataclass
class MappingValidation:
    """Everything one mapping's validation produced (see :func:`validate_mapping`).

    Attributes:
        name: ``"top_down"`` or ``"bottom_up"``.
        model: the neuron model of the training (and of the comparison).
        w_hidden, w_out: the (pruned) weights that were mapped.
        n_pruned: weights set to 0 by :func:`prune_small`.
        scale: chosen (α⁺, α⁻).
        search: the scaling search.
        sim: SPICE results of all test samples at ``scale``.
        model_out: :func:`model_forward` of the test samples.
        t_model, t_spice: per layer (index 0 hidden, 1 output) ``[S, 5]`` spike times (clipped).
        rmse_ns, rmse_hidden_ns: RMSE of output / hidden spike-time differences [ns].
        rmse_class_ns: RMSE over the class outputs only (the first :data:`CLASS_OUTPUTS`; the spare
            outputs are pushed late and often agree exactly, which lowers ``rmse_ns``) [ns].
        sample_rmse_ns: per sample, RMSE over its output spikes [ns]; ``worst`` its argmax.
        wall_s: {"search", "final", "total"} wall times [s]; ``cached`` whether all final decks
            came from the cache.
        readout_out, rmse_readout_ns, rmse_hidden_readout_ns: with a :class:`CircuitReadout`,
            :func:`readout_forward` at the chosen scale and its RMSEs against the same SPICE runs.
    """

    name: str
    model: NeuronModel
    w_hidden: np.ndarray
    w_out: np.ndarray
    n_pruned: int
    scale: tuple[float, float]
    search: ScalingSearch
    sim: SimulationResult
    model_out: dict[str, np.ndarray]
    t_model: list[np.ndarray]
    t_spice: list[np.ndarray]
    rmse_ns: float
    rmse_class_ns: float
    rmse_hidden_ns: float
    sample_rmse_ns: np.ndarray
    worst: int
    wall_s: dict[str, float]
    cached: bool
    readout_out: dict[str, np.ndarray] | None = None
    rmse_readout_ns: float | None = None
    rmse_hidden_readout_ns: float | None = None

    def diff_ns(self, layer: int = 2) -> np.ndarray:
        """Spike-time differences model − SPICE of 1-based ``layer`` [ns], ``[S, 5]``."""
        return (self.t_model[layer - 1] - self.t_spice[layer - 1]) * self.sim.params.t_circ * 1e9

    def error_sources(self) -> dict[str, list[float]]:
        r"""Where model and circuit disagree, per layer (index 0 hidden, 1 output):

        * ``membrane_rms``: RMS of :math:`v_{model}(1) - v_{SPICE}(1)` at the end of
          accumulation (normalised; × T_circ = ns of spike time for the ideal ramp);
        * ``readout_rms_ns``: RMS of :math:`t_{SPICE} - t_{model}(v_{SPICE}(1))`, the SPICE spike
          time against the model's firing-phase readout of the *SPICE* membrane (firing-phase
          non-idealities: discharge slope, steps of the membrane at the phase boundary, the
          sensing inverter's delay), over neurons that fire in both.
        """
        t_circ_ns = self.sim.params.t_circ * 1e9
        membrane, readout = [], []
        for k in (1, 2):
            v_spice = self.sim.v_end_acc[k - 1]
            membrane.append(float(np.sqrt(np.mean((self.model_out[f"v{k}"] - v_spice) ** 2))))
            t_read = rcspike_fire_time(torch.as_tensor(v_spice), self.model.e_dis).numpy()
            both = (self.t_spice[k - 1] < 1) & (t_read < 1)
            d = (self.t_spice[k - 1] - t_read)[both] * t_circ_ns
            readout.append(float(np.sqrt(np.mean(d**2))) if d.size else float("nan"))
        return {"membrane_rms": membrane, "readout_rms_ns": readout}

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers of this mapping."""
        return {
            "error_sources": self.error_sources(),
            "model": self.model.to_dict(),
            "scale": {"alpha_pos": self.scale[0], "alpha_neg": self.scale[1]},
            "rmse_ns": self.rmse_ns,
            "rmse_class_ns": self.rmse_class_ns,
            "rmse_hidden_ns": self.rmse_hidden_ns,
            "max_abs_diff_ns": float(np.abs(self.diff_ns(2)).max()),
            "worst_sample": self.worst,
            "worst_sample_rmse_ns": float(self.sample_rmse_ns[self.worst]),
            "n_samples": int(self.t_model[1].shape[0]),
            "n_pruned": self.n_pruned,
            "search": self.search.to_dict(),
            "wall_s": self.wall_s,
            "final_cached": self.cached,
            "ngspice_wall_s": float(np.sum(self.sim.wall_s)),
            "measured_readout": None
            if self.readout_out is None
            else {
                "rmse_ns": self.rmse_readout_ns,
                "rmse_hidden_ns": self.rmse_hidden_readout_ns,
                "rmse_class_ns": spike_rmse_ns(
                    self.readout_out["t2"][:, :CLASS_OUTPUTS],
                    self.t_spice[1][:, :CLASS_OUTPUTS],
                    self.sim.params.t_circ,
                ),
            },
        }


def validate_mapping(
    name: str,
    w_hidden: np.ndarray,
    w_out: np.ndarray,
    input_times: np.ndarray,
    model: NeuronModel,
    mapping: WeightMapping,
    *,
    out_dir: str | os.PathLike[str],
    search_samples: int = 10,
    design_step: float = 0.05,
    design_2d: str = "full",
    grid_step: float = 0.01,
    rounds: int = 4,
    prune_below: float = 1e-4,
    samples_per_deck: int = 5,
    workers: int = 2,
    params: CircuitParams | None = None,
    readout: CircuitReadout | None = None,
    center: tuple[float, float] = (1.0, 1.0),
) -> MappingValidation:
    """Map, search the scale, simulate and compare one mapping (package docstring, steps 2–5).

    Args:
        name: ``"top_down"`` (2-D scaling) or ``"bottom_up"`` (1-D scaling).
        w_hidden, w_out: trained weights ``[5, 5]`` (pruned here).
        input_times: ``[S, 5]`` input spike times in simulation order; the first
            ``search_samples`` are the scaling-search samples (use
            :func:`class_interleaved_order`).
        model: the neuron model the weights were trained with.
        mapping: weight → gate-bias mapping of the characterisation.
        out_dir: ngspice run directories (cached by netlist hash).
        search_samples, design_step, design_2d, grid_step, rounds: see :func:`scaling_search`.
        prune_below: weights with a smaller magnitude are set to 0.
        samples_per_deck: samples per ngspice process (must divide ``search_samples`` so that
            the search decks are reused by the final run).
        workers: parallel ngspice processes.
        params: circuit parameters (default: the mapping's).
        readout: if given, also compare the SPICE runs with :func:`readout_forward` (the scale is
            the one chosen for ``model``).
        center: where the scale search starts (:func:`scaling_search`); default (1, 1).
    """
    if name not in MAPPINGS:
        raise ValueError(f"name must be one of {MAPPINGS}, got {name!r}")
    start = time.perf_counter()
    params = params or mapping.params
    x = np.atleast_2d(np.asarray(input_times, float))
    n_search = min(search_samples, x.shape[0])
    if n_search < 1:
        raise ValueError("need at least one search sample")
    if n_search % samples_per_deck and n_search != x.shape[0]:
        raise ValueError(
            f"samples_per_deck {samples_per_deck} must divide search_samples {n_search} "
            "(the final run then reuses the search decks)"
        )
    w1, w2 = prune_small(w_hidden, prune_below), prune_small(w_out, prune_below)
    n_pruned = int(((w1 == 0) & (np.asarray(w_hidden) != 0)).sum() + ((w2 == 0) & (np.asarray(w_out) != 0)).sum())
    two_d = name == "top_down"
    reach = design_step * rounds  # the design moves by at most one step per round
    c_pos, c_neg = (center[0], center[0]) if not two_d else center
    corners = [
        (c_pos - reach, c_neg - reach),
        (c_pos + reach, c_neg + reach),
        (c_pos - reach, c_neg + reach),
        (c_pos + reach, c_neg - reach),
    ]
    check_realisable(mapping, {"weights_hidden": w1, "weights_out": w2}, corners)
    model_out = model_forward(w1, w2, x, model)
    out_dir = Path(out_dir)

    def sim(scale: tuple[float, float], samples: int) -> SimulationResult:
        return simulate_network(
            w1,
            w2,
            x[:samples],
            out_dir=out_dir,
            scale=scale,
            characterisation=mapping,
            params=params,
            name=name,
            samples_per_deck=min(samples_per_deck, samples),
            workers=1,
        )

    def simulate_search(points: list[tuple[float, float]]) -> list[np.ndarray]:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = list(pool.map(lambda p: sim(p, n_search), points))
        return [spice_times(r, 2) for r in results]

    search = scaling_search(
        simulate_search,
        model_out["t2"][:n_search],
        two_d=two_d,
        design_step=design_step,
        design_2d=design_2d,
        grid_step=grid_step,
        rounds=rounds,
        t_circ=params.t_circ,
        center=center,
    )
    t_final = time.perf_counter()
    full = simulate_network(
        w1,
        w2,
        x,
        out_dir=out_dir,
        scale=search.chosen,
        characterisation=mapping,
        params=params,
        name=name,
        samples_per_deck=min(samples_per_deck, x.shape[0]),
        workers=workers,
    )
    t_model = [model_out["t1"], model_out["t2"]]
    t_spice = [spice_times(full, 1), spice_times(full, 2)]
    d = (t_model[1] - t_spice[1]) * params.t_circ * 1e9
    sample_rmse = np.sqrt(np.mean(d**2, axis=1))
    readout_out = None
    if readout is not None:
        biases = [mapping.weights_to_biases(w, search.chosen) for w in (w1, w2)]
        readout_out = readout_forward(w1, w2, x, model, readout, biases)
    end = time.perf_counter()
    return MappingValidation(
        name=name,
        model=model,
        w_hidden=w1,
        w_out=w2,
        n_pruned=n_pruned,
        scale=search.chosen,
        search=search,
        sim=full,
        model_out=model_out,
        t_model=t_model,
        t_spice=t_spice,
        rmse_ns=spike_rmse_ns(t_model[1], t_spice[1], params.t_circ),
        rmse_class_ns=spike_rmse_ns(t_model[1][:, :CLASS_OUTPUTS], t_spice[1][:, :CLASS_OUTPUTS], params.t_circ),
        rmse_hidden_ns=spike_rmse_ns(t_model[0], t_spice[0], params.t_circ),
        sample_rmse_ns=sample_rmse,
        worst=int(np.argmax(sample_rmse)),
        wall_s={"search": search.wall_s, "final": end - t_final, "total": end - start},
        cached=all(full.cached),
        readout_out=readout_out,
        rmse_readout_ns=None if readout_out is None else spike_rmse_ns(readout_out["t2"], t_spice[1], params.t_circ),
        rmse_hidden_readout_ns=None
        if readout_out is None
        else spike_rmse_ns(readout_out["t1"], t_spice[0], params.t_circ),
    )


def lambda_spread(characterisation: Characterisation, currents: np.ndarray) -> dict[str, float]:
    """(max − min) / median of λ of the as-wired synapse over the network's current range
    (paper Fig. 17c, d: "about 5 %"), per transistor type, in %."""
    out = {}
    for kind, sel in (("nmos", currents > 0), ("pmos", currents < 0)):
        i = np.abs(currents[sel])
        if i.size == 0:
            continue
        lam = characterisation.lambda_at_current(f"{kind}_synapse", np.geomspace(i.min(), i.max(), 50))
        out[kind] = float(100 * (lam.max() - lam.min()) / np.median(lam))
    return out


def table2_rows(characterisation: Characterisation, configs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of paper Table 2 (circuit, model and learning parameters) with the paper's value
    beside ours: ``{"group", "parameter", "unit", "paper", "ours", "note"}``.

    Args:
        characterisation: the device characterisation (measured λ, E±, V_switch, C_m).
        configs: training config (as a dict) per mapping, e.g. ``{"bottom_up": {...}}``.
    """
    from pnnlib.pipeline.record import load_paper_values

    t2 = {v["key"]: v["paper"] for v in load_paper_values()["items"]["table2"]["values"]}
    p, lam = characterisation.params, characterisation.lambdas
    lone, wired = characterisation.reversal["lone"], characterisation.reversal["wired"]
    bu, td = configs["bottom_up"], configs["top_down"]

    def row(group: str, parameter: str, unit: str, paper: Any, ours: Any, note: str = "") -> dict[str, Any]:
        return {"group": group, "parameter": parameter, "unit": unit, "paper": paper, "ours": ours, "note": note}

    def pair(a: float, b: float) -> str:
        return f"{a:.3f} (as wired {b:.3f})"

    return [
        row("circuit", "V_dd", "V", t2["v_dd"], p["vdd"], "set"),
        row(
            "circuit",
            "C_m",
            "fF",
            t2["c_m"],
            round(1e15 * characterisation.membrane["c_at_v0"], 1),
            "membrane node at V0 (capacitor + transistors), AC-measured",
        ),
        row("circuit", "T_circ", "µs", t2["t_circ"], 1e6 * p["t_circ"], "set"),
        row(
            "circuit",
            "V_switch",
            "V",
            t2["v_switch"],
            round(characterisation.firing["v_switch_dynamic"], 3),
            f"membrane at the output spike in the firing ramp; DC transfer curve "
            f"{characterisation.sense['v_switch_dc']:.3f} V",
        ),
        row("circuit", "V0", "V", t2["v0"], p["v0"], "set"),
        row("circuit", "V_th^circ = V0 − V_switch", "V", t2["v_th_circ"], p["vth_circ"], "set"),
        row("circuit", "V_b^sense", "V", t2["v_b_sense"], p["vb_sense"], "set"),
        row("circuit", "V_b^dis", "V", t2["v_b_dis"], p["vb_dis"], "set"),
        row(
            "circuit",
            "λ_N",
            "1/V",
            t2["lambda_n"],
            pair(lam["nmos_lone"], lam["nmos_synapse"]),
            "lone transistor (synapse as wired)",
        ),
        row(
            "circuit",
            "λ_P",
            "1/V",
            t2["lambda_p"],
            pair(lam["pmos_lone"], lam["pmos_synapse"]),
            "lone transistor (synapse as wired)",
        ),
        row(
            "circuit",
            "λ_dis",
            "1/V",
            t2["lambda_dis"],
            pair(lam["discharger_lone"], lam["discharger_wired"]),
            "lone discharger (with its enable switch)",
        ),
        row(
            "circuit",
            "synapse transistors W / L",
            "µm",
            f"{t2['synapse_w']:g} / {t2['synapse_l']:g}",
            f"{SYNAPSE_W_UM:g} / {SYNAPSE_L_UM:g}",
            "set",
        ),
        row(
            "circuit",
            "current of one weight unit C_m V_th^circ / T_circ",
            "nA",
            t2["i_unit"],
            round(1e9 * p["c_m"] * p["vth_circ"] / p["t_circ"], 1),
            "paper value inferred",
        ),
        row(
            "model",
            "E⁺ = 1/(V_th^circ λ_N)",
            "",
            t2["e_pos"],
            pair(lone["e_plus"], wired["e_plus"]),
            "bottom-up model uses the as-wired value",
        ),
        row(
            "model",
            "E⁻ = −1/(V_th^circ λ_P)",
            "",
            t2["e_neg"],
            pair(lone["e_minus"], wired["e_minus"]),
            "bottom-up model uses the as-wired value",
        ),
        row(
            "model",
            "E_dis = 1/(V_th^circ λ_dis)",
            "",
            t2["e_dis"],
            pair(lone["e_dis"], wired["e_dis"]),
            "bottom-up readout uses the as-wired value",
        ),
        row("model", "|E±| of the top-down (ANN) model", "", TOP_DOWN_E, td["e_pos"], "ideal firing ramp"),
        row("model", "network", "", "5-5-5", "5-5-5", "4 Iris features + bias spike; 3 classes on outputs 0-2"),
        row("learning", "learning rate η", "", t2["lr"], bu["lr"], "Adam"),
        row("learning", "batch size", "", t2["batch_size"], bu["batch"], ""),
        row("learning", "τ_soft", "", t2["tau_soft"], bu["tau_soft"], ""),
        row("learning", "temporal penalty γ_T", "", t2["gamma_t"], bu["gamma1"], ""),
        row("learning", "weight L2 penalty γ_W", "", t2["gamma_w"], bu["gamma_w"], ""),
        row("learning", "early-spike penalty γ_V", "", t2["gamma_v"], bu["gamma_v"], ""),
        row(
            "learning",
            "t_ref",
            "",
            "not given",
            bu["t_ref"],
            "our choice; the paper's Fashion-MNIST value 0.9 silenced class outputs (OPEN_TRAIN)",
        ),
        row("learning", "epochs", "", "not given", bu["epochs"], "our choice"),
        row(
            "learning",
            "DSTD M (training / test)",
            "",
            "not given",
            f"{bu['steps']} / {bu['eval_steps']}",
            f"{bu['offset']} offset",
        ),
        row("learning", "σ_spike", "", "not given", bu["sigma"], "training only; the comparison is noise-free"),
    ]
