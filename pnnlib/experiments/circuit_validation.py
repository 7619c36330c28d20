r"""Circuit validation: top-down (ANN-to-IMC) versus bottom-up (PNN-to-IMC) mapping of the Iris
RC-Spike network onto the sky130 circuit (paper-spec §1.7, §1.8, §6; Figs. 6, 7, 15; Table 2).

Flow (one call of :func:`validate_mapping` per mapping):

1. **Train** the 5-5-5 Iris network (4 features + a bias spike, 3 classes on 5 outputs) with the
   Table-2 learning settings (:func:`iris_train_config`):

   * top-down: the ideal model, RC-Spike with :math:`|E^\pm| = 100` and the ideal firing ramp;
   * bottom-up: :math:`E^+ = 1/(V^{circ}_{th}\lambda_N)`, :math:`E^- = -1/(V^{circ}_{th}\lambda_P)` of
     the synapse *as wired* and the discharge non-ideality :math:`E_{dis}` in the readout, all
     read from the device characterisation (``characterisation.json``), never typed in.

2. **Prune** weights with :math:`|w| <` ``prune_below`` to exactly zero (:func:`prune_small`). The
   back end cannot realise tiny nonzero weights (the synapse's current has a leakage floor,
   ~1e-5 weight units), and a weight :math:`|w| < 10^{-4}` moves a membrane by less than
   :math:`10^{-4}` (0.1 ns of spike time). Model and circuit both use the pruned weights.

3. **Map** weights to currents :math:`I_{ij}=\alpha^{\pm}C_mV^{circ}_{th}w_{ij}/T^{circ}` and gate
   biases (:class:`pnnlib.circuit.WeightMapping`); :func:`check_realisable` fails early, naming
   the weight, when a weight cannot be realised anywhere in the scaling range.

4. **Scaling search** (§1.8): 2-D :math:`(\alpha^+,\alpha^-)` for top-down, 1-D global
   :math:`\alpha^+=\alpha^-` for bottom-up, minimising the RMSE between the model's and SPICE's
   output spike times. A brute-force 1 % grid of SPICE runs is far too slow (one 2-layer Iris
   sample costs ~4–6 CPU-s of ngspice, the model load included), so the search is a **response surface**
   (:func:`scaling_search`):

   * simulate ``search_samples`` test samples (class-interleaved) at a small design of scales
     around 1 (1-D: 3 points; 2-D: the 3 × 3 factorial), spacing ``design_step``;
   * fit each output spike time of each sample by a quadratic in the scale(s) (1-D: exact
     through 3 points; 2-D: least squares, 6 coefficients on 9 points);
   * grid-search the fitted RMSE with :func:`pnnlib.experiments.grid_search_scaling` in 1 % steps
     over the design's range (the surface is not trusted outside it);
   * while the optimum lies on the edge of that range, re-centre the design there and repeat, up
     to ``rounds`` designs (points shared with an earlier design are read from the simulation
     cache);
   * confirm: simulate the search samples at the fitted optimum and take, among the fitted
     optimum and the design points, the scale with the smallest *measured* RMSE.

5. **Simulate** all test samples at the chosen scale, in parallel, cached by netlist hash (the
   search samples come first and are chunked identically, so their decks are reused), and
   **compare**: model versus SPICE spike times of both layers, the output-layer RMSE in ns
   (:math:`T^{circ}` = 1 µs), per-sample RMSE, the worst sample.

The model's spike times are those of the model that was trained, evaluated **exactly**
(:func:`pnnlib.core.neuron.rcspike_exact`, no DSTD, no spike noise): top-down with the ideal
:math:`|E|=100` model, bottom-up with :math:`E^\pm` and :math:`E_{dis}`. Spike times are
compared in the RC-Spike convention (§1.4): clipped to [0, 1], a neuron that does not fire in its
window (SPICE ``nan``) counts as :math:`t = 1`.

**Measured readout (our extension, not in the paper).** Each mapping's SPICE runs are also compared
with its model plus two circuit effects the RC-Spike equations lack, both measured
by the devices stage on their own test benches (never fitted to the validation samples):
:class:`CircuitReadout` (i) replaces the :math:`E_{dis}` firing ramp by the no-input firing-phase
waveform of the neuron as simulated (the discharger's curvature, the sensing inverter's feedback
onto the membrane near :math:`V_{switch}`, and its delay), and (ii) adds, at the end of the
accumulation phase, the membrane step of every synapse whose input spiked: its selector's gate
edge couples into the node under the weight transistor, which refills it from the membrane
(:func:`pnnlib.circuit.characterise._selector`, up to ~5 mV per synapse over the weight range). The
same SPICE runs and scale are used; only the model side changes. See the README for the error
budget that motivated it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pnnlib.circuit import (
    PAPER_VALUES,
    Characterisation,
    CircuitParams,
    SimulationResult,
    WeightMapping,
    simulate_network,
)
from pnnlib.circuit.netlist import LayerBiases
from pnnlib.circuit.params import SYNAPSE_L_UM, SYNAPSE_W_UM
from pnnlib.core.neuron import rcspike_exact, rcspike_fire_time
from pnnlib.experiments.baselines import grid_search_scaling
from pnnlib.io import json_ready
from pnnlib.train import TrainConfig, load_model, train

__all__ = [
    "DESIGNS_2D",
    "MAPPINGS",
    "TABLE2_TRAIN",
    "OPEN_TRAIN",
    "TOP_DOWN_E",
    "CircuitReadout",
    "MappingValidation",
    "NeuronModel",
    "ScalingSearch",
    "accuracy",
    "check_realisable",
    "class_interleaved_order",
    "fire_ramp",
    "iris_train_config",
    "json_ready",
    "lambda_spread",
    "load_characterisation",
    "model_forward",
    "model_membrane_traces",
    "readout_forward",
    "network_currents",
    "neuron_model",
    "prune_small",
    "scaling_search",
    "spice_times",
    "spike_rmse_ns",
    "table2_rows",
    "train_iris",
    "trained_weights",
    "validate_mapping",
]

MAPPINGS = ("top_down", "bottom_up")
"""The two mappings of §1.8: ANN-to-IMC (top-down) and PNN-to-IMC (bottom-up)."""

TOP_DOWN_E = 100.0
"""|E±| of the paper's stand-in ANN (§1.4, §1.8)."""

TABLE2_TRAIN: dict[str, Any] = {
    "model": "iris_net",
    "dataset": "iris",
    "n_outputs": 5,
    "lr": 1e-3,
    "batch": 50,
    "tau_soft": 0.07,
    "gamma1": 0.1,
    "gamma_w": 1e-2,
    "gamma_v": 0.2,
}
"""Learning settings of paper Table 2 (paper-spec §3.2, "Circuit / Iris"): η, batch, τ_soft,
γ_T (``gamma1``), γ_W, γ_V, on the 5-5-5 network with 5 outputs."""

OPEN_TRAIN: dict[str, Any] = {
    "t_ref": 0.5,
    "epochs": 3000,
    "steps": 10,
    "offset": "random",
    "sigma": 0.01,
    "eval_steps": 30,
}
"""Training settings Table 2 leaves open (paper-spec §8 item 12), our choices: t_ref = 0.5, 3000
epochs of the 100 training samples (6000 Adam steps; the training loss has flattened by 1500),
DSTD with M = 10 and a random offset (§3.3), σ_spike = 0.01 (§3.3 default), test-time M = 30
(Appendix E).

Why not the paper's RC-Spike t_ref = 0.9 (§3.2, Fashion-MNIST): together with the early-spike
penalty γ_V, which pulls every spike towards 1, it drives output neurons into the clipped region
(t = 1, v ≤ 0) where they get no gradient. With 2000 epochs, t_ref = 0.9 silenced a class output in
all three top-down seeds we ran (test accuracy 74 %); with t_ref = 0.5, seeds 0 and 1 reach
98–99.6 % for both mappings (seed 2 still loses a class, hence :func:`train_iris` over seeds)."""


@dataclass(frozen=True)
class NeuronModel:
    """The RC-Spike neuron the weights were trained with (§1.2, §1.4, §1.7).

    Attributes:
        e_pos, e_neg: normalised reversal potentials E⁺ > 0 > E⁻.
        e_dis: discharge non-ideality of the firing phase (``None``: ideal ramp :math:`\\dot v=1`).
    """

    e_pos: float
    e_neg: float
    e_dis: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {"e_pos": self.e_pos, "e_neg": self.e_neg, "e_dis": self.e_dis}


@dataclass(frozen=True)
class CircuitReadout:
    r"""Measured circuit effects for the refined bottom-up model (module docstring, "Measured readout").

    Attributes:
        ramp_t, ramp_v: the no-input neuron's firing phase: time from its start (units of
            :math:`T^{circ}`) and normalised membrane :math:`v=-(V-V_0)/V^{circ}_{th}`, cut at its
            spike and made non-decreasing.
        t_fire_no_input: when that neuron's output spike crosses :math:`V_{dd}/2` (units of
            :math:`T^{circ}`; > 1: after the phase).
        start_delay: spike time of a neuron whose membrane is past threshold at the start of the
            phase (output-chain delay, units of :math:`T^{circ}`).
        steps: selector turn-off step of the membrane [V] per spike driver (``"ideal"``: the input
            layer's sources; ``"neuron"``: a neuron's output) as ``(vg_n, dv_n, vg_p, dv_p)``: the
            step of a block whose NMOS / PMOS weight transistor has gate voltage ``vg`` (ascending)
            and whose other transistor is off.
        vth: :math:`V^{circ}_{th}` [V].
    """

    ramp_t: np.ndarray
    ramp_v: np.ndarray
    t_fire_no_input: float
    start_delay: float
    steps: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    vth: float

    @classmethod
    def from_characterisation(cls, char: Characterisation) -> CircuitReadout:
        """Build from the devices stage's firing-phase and selector benches.

        Raises:
            ValueError: the characterisation predates the selector bench (rerun the devices stage).
        """
        if not char.selector or not char.firing.get("t"):
            raise ValueError("the device characterisation has no selector turn-off / firing-phase results: "
                             "rerun the devices stage (pnnlib.circuit.characterise_devices)")
        p = CircuitParams(**char.params)
        t_fire = float(char.firing["t_fire_no_input"])
        t = np.asarray(char.firing["t"], float) / p.t_circ
        v = -(np.asarray(char.firing["v_mem"], float) - p.v0) / p.vth_circ
        keep = (t >= 0) & (t <= t_fire)
        steps = {}
        for driver, tables in char.selector.items():
            n, q = tables["nmos"], tables["pmos"]
            on, op = np.argsort(n["vg"]), np.argsort(q["vg"])
            steps[driver] = (np.asarray(n["vg"], float)[on], np.asarray(n["dv"], float)[on],
                             np.asarray(q["vg"], float)[op], np.asarray(q["dv"], float)[op])
        return cls(ramp_t=t[keep], ramp_v=np.maximum.accumulate(v[keep]), t_fire_no_input=t_fire,
                   start_delay=float(char.firing["start_delay_ns"]) * 1e-9 / p.t_circ, steps=steps,
                   vth=p.vth_circ)

    def fire_time(self, v_end: np.ndarray) -> np.ndarray:
        r"""Spike time of a neuron entering the firing phase at membrane ``v_end``: the discharge is
        autonomous (its rate depends on V only), so it follows the no-input waveform from where
        that waveform passes ``v_end``: :math:`t = t_{fire}^{0} - u(v_{end})`. Below the waveform's
        start (v < 0) it is extended with its initial slope; past threshold it is the output
        chain's delay. Not clipped."""
        v = np.asarray(v_end, float)
        # initial slope over the first 5 % of the phase (the first samples can be flat after the
        # running maximum that makes the waveform monotone)
        t_a = self.ramp_t[0] + 0.05
        slope = (np.interp(t_a, self.ramp_t, self.ramp_v) - self.ramp_v[0]) / (t_a - self.ramp_t[0])
        u = np.where(v < self.ramp_v[0], (v - self.ramp_v[0]) / slope, np.interp(v, self.ramp_v, self.ramp_t))
        return np.maximum(self.t_fire_no_input - u, self.start_delay)

    def turn_off_step(self, biases: LayerBiases, driver: str) -> np.ndarray:
        """Normalised membrane step ``[n_out, n_in]`` each synapse adds when its input spike (from
        ``driver``) ends. A block's step is its NMOS-table value at V_N plus its PMOS-table value
        at V_P minus the both-off value (each table row includes the off transistor's share)."""
        vg_n, dv_n, vg_p, dv_p = self.steps[driver]
        off = 0.5 * (dv_n[0] + dv_p[-1])  # V_N = 0 V and V_P = V_dd: the block switched off
        dv = np.interp(biases.v_n, vg_n, dv_n) + np.interp(biases.v_p, vg_p, dv_p) - off
        return -dv / self.vth


def readout_forward(w_hidden: np.ndarray, w_out: np.ndarray, t_in: np.ndarray, model: NeuronModel,
                    readout: CircuitReadout, biases: Sequence[LayerBiases]) -> dict[str, np.ndarray]:
    """:func:`model_forward` with the measured readout: the exact accumulation with E± of ``model``,
    plus the selector steps of the inputs that spiked (t < 1; layer 1 driven by the ideal input
    sources, layer 2 by the hidden neurons), then :meth:`CircuitReadout.fire_time`. ``biases`` are
    the two layers' gate biases at the chosen scale. Spike times clipped to [0, 1]."""
    t = np.atleast_2d(np.asarray(t_in, float))
    out: dict[str, np.ndarray] = {}
    for k, (w, b, driver) in enumerate(zip((w_hidden, w_out), biases, ("ideal", "neuron"), strict=True), 1):
        v = rcspike_exact(torch.as_tensor(t), torch.as_tensor(np.asarray(w, float)), model.e_pos, model.e_neg).numpy()
        v = v + (t < 1.0).astype(float) @ readout.turn_off_step(b, driver).T
        t = np.clip(readout.fire_time(v), 0.0, 1.0)
        out[f"v{k}"], out[f"t{k}"] = v, t
    return out


# --------------------------------------------------------------------------- inputs


def load_characterisation(path: str | os.PathLike[str]) -> Characterisation:
    """Read the device characterisation (``characterisation.json`` of the pipeline's ``devices``
    stage, :func:`pnnlib.circuit.characterise_devices`).

    Raises:
        FileNotFoundError: the file does not exist (run the devices stage first).
        ValueError: the file lacks the λ / reversal-potential results the mapping needs.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"device characterisation {path} not found: run the devices stage first "
            "(snakemake ... devices, or pnnlib.circuit.characterise_devices(out_dir))"
        )
    try:
        char = Characterisation.load_json(path)
    except (TypeError, KeyError, ValueError) as err:
        raise ValueError(f"{path} is not a complete device characterisation: {err}") from err
    for kind in ("lone", "wired"):
        missing = {"e_plus", "e_minus", "e_dis"} - set(char.reversal.get(kind, {}))
        if missing:
            raise ValueError(f"{path}: reversal[{kind!r}] lacks {sorted(missing)}")
    for name in ("nmos_synapse", "pmos_synapse"):
        if name not in char.tables:
            raise ValueError(f"{path}: no I_D(V_G) table {name!r} for the weight mapping")
    return char


def neuron_model(mapping: str, characterisation: Characterisation | None = None) -> NeuronModel:
    """The model of ``mapping``: top-down |E±| = 100 with the ideal ramp; bottom-up E⁺, E⁻ and
    E_dis of the characterisation's as-wired devices (§1.8, §6 "Procedure")."""
    if mapping == "top_down":
        return NeuronModel(TOP_DOWN_E, -TOP_DOWN_E, None)
    if mapping == "bottom_up":
        if characterisation is None:
            raise ValueError("the bottom-up model needs the device characterisation (E±, E_dis)")
        rev = characterisation.reversal["wired"]
        return NeuronModel(float(rev["e_plus"]), float(rev["e_minus"]), float(rev["e_dis"]))
    raise ValueError(f"mapping must be one of {MAPPINGS}, got {mapping!r}")


def iris_train_config(mapping: str, characterisation: Characterisation | None = None,
                      **settings: Any) -> TrainConfig:
    """Training config of one mapping: :data:`TABLE2_TRAIN` + :data:`OPEN_TRAIN` + ``settings``
    (any :class:`~pnnlib.train.TrainConfig` key, e.g. ``epochs``, ``seed``, ``device``), with the
    reversal potentials and E_dis of :func:`neuron_model`."""
    m = neuron_model(mapping, characterisation)
    return TrainConfig.from_dict({**TABLE2_TRAIN, **OPEN_TRAIN, **settings,
                                  "e_pos": m.e_pos, "e_neg": m.e_neg, "e_dis": m.e_dis})


def train_iris(mapping: str, characterisation: Characterisation | None, out_dir: str | os.PathLike[str],
               seeds: Sequence[int] = (0,), **settings: Any) -> tuple[Path, list[dict[str, Any]]]:
    """Train the Iris network of ``mapping`` once per seed (:func:`pnnlib.train.train`, finished
    runs are read back) into ``out_dir/seed<k>`` and keep the run with the lowest final
    **training** loss (the test set plays no part in the choice).

    Why several seeds: an output neuron whose membrane ends below zero spikes at the clipped
    t = 1 and receives no gradient; with the Table-2 settings this silences a class output in some
    seeds (1 of 3 per mapping with t_ref = 0.5: test accuracy 52–73 % instead of ~99 %; see
    :data:`OPEN_TRAIN`).

    Returns:
        (run directory of the chosen seed, per seed ``{"seed", "train_loss", "train_acc",
        "test_acc", "wall_s", "run_dir"}``).
    """
    if not seeds:
        raise ValueError("need at least one seed")
    rows = []
    for seed in seeds:
        run_dir = Path(out_dir) / f"seed{seed}"
        start = time.perf_counter()
        metrics = train(iris_train_config(mapping, characterisation, seed=int(seed), **settings), run_dir)
        rows.append({"seed": int(seed), "train_loss": metrics["history"][-1]["train_loss"],
                     "train_acc": metrics["history"][-1]["train_acc"], "test_acc": metrics["final"]["acc"],
                     "wall_s": time.perf_counter() - start, "run_dir": str(run_dir)})
    best = min(rows, key=lambda r: r["train_loss"])
    return Path(best["run_dir"]), rows


def trained_weights(run_dir: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """(W_hidden [5, 5], W_out [5, 5]) of a finished Iris training run, as float64 arrays."""
    model, _ = load_model(run_dir)
    w = [layer.weight.detach().double().numpy().copy() for layer in model.spiking_layers()]
    if len(w) != 2:
        raise ValueError(f"{run_dir}: expected a 2-layer network, got {len(w)} spiking layers")
    return w[0], w[1]


def prune_small(w: np.ndarray, threshold: float) -> np.ndarray:
    """Copy of ``w`` with every :math:`|w_{ij}| <` ``threshold`` set to exactly 0 (switched-off
    synapse). See the module docstring, step 2."""
    w = np.asarray(w, float)
    return np.where(np.abs(w) < threshold, 0.0, w)


def check_realisable(mapping: WeightMapping, weights: dict[str, np.ndarray],
                     scales: Iterable[tuple[float, float]]) -> None:
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


# --------------------------------------------------------------------------- model


def model_forward(w_hidden: np.ndarray, w_out: np.ndarray, t_in: np.ndarray,
                  model: NeuronModel) -> dict[str, np.ndarray]:
    """Exact 2-layer RC-Spike forward pass (Algorithm 1, §1.3–§1.4, §1.7), no DSTD, no noise.

    Returns ``{"v1", "t1", "v2", "t2"}``: membranes at the end of accumulation and spike times
    (normalised, clipped to [0, 1]) of the hidden and output layers, each ``[S, 5]``.
    """
    t = torch.as_tensor(np.asarray(t_in, float))
    out: dict[str, np.ndarray] = {}
    for k, w in enumerate((w_hidden, w_out), 1):
        v = rcspike_exact(t, torch.as_tensor(np.asarray(w, float)), model.e_pos, model.e_neg)
        t = rcspike_fire_time(v, model.e_dis)
        out[f"v{k}"], out[f"t{k}"] = v.numpy(), t.numpy()
    return out


def fire_ramp(v_start: np.ndarray, u: np.ndarray, e_dis: float | None) -> np.ndarray:
    r"""Membrane during the firing phase, ``u`` ∈ [0, 1] after its start (§1.4, §1.7): the ideal
    ramp :math:`v_0 + u`, or with the discharge non-ideality
    :math:`v(u)=[1-(1-\beta v_0)(1-\beta)^u]/\beta`, β = 1/E_dis (v(u) reaches 1 at u = t)."""
    v0 = np.asarray(v_start, float)[..., None]
    if e_dis is None:
        return v0 + u
    b = 1.0 / e_dis
    return (1.0 - (1.0 - b * v0) * (1.0 - b) ** u) / b


def model_membrane_traces(w_hidden: np.ndarray, w_out: np.ndarray, t_in: np.ndarray,
                          model: NeuronModel, t_norm: np.ndarray) -> list[np.ndarray]:
    """Model membrane trajectories of one sample for Fig. 7b, c, per layer ``[5, len(t_norm)]``.

    ``t_norm`` ∈ [0, 2] counts from the start of the layer's accumulation phase (as
    :attr:`pnnlib.circuit.SimulationResult.t_norm`): accumulation ``[0, 1]`` by the exact solution
    :math:`v(\tau)` = ``rcspike_exact(..., t_end=τ)``, then the firing-phase ramp
    (:func:`fire_ramp`) until the neuron fires, after which it is drawn reset to 0 (V = V0, as in
    the paper's figure). The output layer is driven by the model's hidden spike times.
    """
    t_norm = np.asarray(t_norm, float)
    acc, fire = t_norm[t_norm <= 1.0], t_norm[t_norm > 1.0] - 1.0
    t = torch.as_tensor(np.atleast_2d(np.asarray(t_in, float)))
    traces = []
    for w in (w_hidden, w_out):
        wt = torch.as_tensor(np.asarray(w, float))
        v_acc = torch.stack([rcspike_exact(t, wt, model.e_pos, model.e_neg, t_end=float(tau), check=False)[0]
                             for tau in np.maximum(acc, 1e-12)], 1).numpy()
        v1 = rcspike_exact(t, wt, model.e_pos, model.e_neg)
        t_fire = rcspike_fire_time(v1, model.e_dis)[0].numpy()
        v_fire = fire_ramp(v1[0].numpy(), fire, model.e_dis)
        fired = (t_fire < 1.0)[:, None] & (fire[None, :] >= t_fire[:, None])
        traces.append(np.concatenate([v_acc, np.where(fired, 0.0, v_fire)], 1))
        t = rcspike_fire_time(v1, model.e_dis)
    return traces


# --------------------------------------------------------------------------- comparison


def spice_times(sim: SimulationResult, layer: int) -> np.ndarray:
    """SPICE spike times of 1-based ``layer`` in the RC-Spike convention (no spike = 1)."""
    return sim.spike_times_clipped(layer)


def spike_rmse_ns(t_model: np.ndarray, t_spice: np.ndarray, t_circ: float = 1e-6) -> float:
    """RMSE of the spike-time differences model − SPICE [ns] (normalised times × T_circ)."""
    d = (np.asarray(t_model) - np.asarray(t_spice)) * t_circ * 1e9
    return float(np.sqrt(np.mean(d**2)))


def network_currents(mapping: WeightMapping, weights: Sequence[np.ndarray],
                     scale: tuple[float, float]) -> np.ndarray:
    """Signed synaptic currents [A] of all nonzero weights at ``scale`` (Fig. 17c, d histogram)."""
    w = np.concatenate([np.ravel(x) for x in weights])
    return mapping.weight_to_current(w[w != 0], scale)


# --------------------------------------------------------------------------- scaling search


def _basis(u: np.ndarray, cross: bool = True) -> np.ndarray:
    """Quadratic basis of the scale offsets ``u`` ``[Q, d]``: 1-D (1, u, u²); 2-D (1, u, w, u², w²)
    and, with ``cross``, uw."""
    if u.shape[1] == 1:
        x = u[:, 0]
        return np.stack([np.ones_like(x), x, x**2], 1)
    x, y = u[:, 0], u[:, 1]
    return np.stack([np.ones_like(x), x, y, x**2, y**2, *([x * y] if cross else [])], 1)


def _grid(lo: float, hi: float, step: float) -> np.ndarray:
    n = int(round((hi - lo) / step))
    return np.round(lo + step * np.arange(n + 1), 6)


#: 2-D designs: the 3 x 3 factorial (full quadratic) or the 5-point star (no cross term).
DESIGNS_2D = ("full", "star")


def _design(center: tuple[float, float], step: float, two_d: bool,
            design_2d: str = "full") -> list[tuple[float, float]]:
    offsets = (-step, 0.0, step)
    if not two_d:
        return [(round(center[0] + a, 6),) * 2 for a in offsets]
    pairs = [(a, b) for a in offsets for b in offsets if design_2d == "full" or a == 0 or b == 0]
    return [(round(center[0] + a, 6), round(center[1] + b, 6)) for a, b in pairs]


def _surface_rmse(design: list[tuple[float, float]], t_spice: list[np.ndarray], center: tuple[float, float],
                  dims: int, t_model: np.ndarray, t_circ: float) -> Any:
    """Fit every spike time of ``t_spice`` (one ``[S, N]`` array per design point) by a quadratic
    in the scale offset from ``center``; return ``(α⁺, α⁻) -> RMSE [ns]`` of ``t_model`` against
    the fitted spike times (clipped to [0, 1])."""
    u = np.array([[p[0] - center[0], p[1] - center[1]][:dims] for p in design])
    cross = len(design) >= 6  # the star design cannot resolve the cross term
    coef, *_ = np.linalg.lstsq(_basis(u, cross), np.stack([t.ravel() for t in t_spice]), rcond=None)
    target = t_model.ravel()

    def objective(a_pos: float, a_neg: float) -> float:
        uu = np.array([[a_pos - center[0], a_neg - center[1]][:dims]])
        fit = np.clip(_basis(uu, cross) @ coef, 0.0, 1.0)[0]
        return float(np.sqrt(np.mean(((target - fit) * t_circ * 1e9) ** 2)))

    return objective


@dataclass
class ScalingSearch:
    """Record of the response-surface scaling search (Fig. 15).

    Attributes:
        two_d: 2-D (α⁺, α⁻) or 1-D (α⁺ = α⁻) search.
        rounds: per round ``{"center", "design", "design_rmse_ns" (measured on the search
            samples), "alphas_pos", "alphas_neg" (the 1 % grid; ``None`` in 1-D), "landscape_ns"
            (fitted RMSE on the grid), "fitted_best", "fitted_best_ns", "at_edge"}``.
        measured: every scale simulated on the search samples → measured output RMSE [ns].
        chosen: the scale with the smallest measured RMSE (fitted optimum or a design point).
        samples: indices (into the simulated sample order) of the search samples.
        wall_s: wall time of the search [s].
    """

    two_d: bool
    rounds: list[dict[str, Any]] = field(default_factory=list)
    measured: dict[tuple[float, float], float] = field(default_factory=dict)
    chosen: tuple[float, float] = (1.0, 1.0)
    samples: int = 0
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "two_d": self.two_d,
            "rounds": self.rounds,
            "measured": [{"alpha_pos": a, "alpha_neg": b, "rmse_ns": r} for (a, b), r in self.measured.items()],
            "chosen": list(self.chosen),
            "samples": self.samples,
            "wall_s": self.wall_s,
        }


def scaling_search(
    simulate: Any,
    t_model_out: np.ndarray,
    *,
    two_d: bool,
    design_step: float,
    design_2d: str = "full",
    grid_step: float = 0.01,
    rounds: int = 4,
    t_circ: float = 1e-6,
) -> ScalingSearch:
    """Response-surface search of the current scale (module docstring, step 4; paper §1.8, Fig. 15).

    Args:
        simulate: ``list[(α⁺, α⁻)] -> list[SPICE output spike times [S, N_out]]`` (clipped,
            no spike = 1) of the search samples, one array per scale.
        t_model_out: model output spike times of the search samples ``[S, N_out]``.
        two_d: 2-D search (top-down) or 1-D global scale (bottom-up).
        design_step: spacing of the design points (a multiple of ``grid_step``).
        design_2d: 2-D design, ``"full"`` (3 × 3, full quadratic) or ``"star"`` (centre and the
            4 axial points, quadratic without the cross term; for quick checks).
        grid_step: step of the grid searched on the fitted surface (paper: 1 %).
        rounds: most design rounds: while the fitted optimum is on the edge of the design range,
            re-centre the design there and repeat (1: a single design, no re-centring).
        t_circ: T_circ [s] for the RMSE in ns.
    """
    if design_2d not in DESIGNS_2D:
        raise ValueError(f"design_2d must be one of {DESIGNS_2D}, got {design_2d!r}")
    if not design_step > 0 or abs(design_step / grid_step - round(design_step / grid_step)) > 1e-6:
        raise ValueError(f"design_step {design_step} must be a positive multiple of grid_step {grid_step}")
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    start = time.perf_counter()
    out = ScalingSearch(two_d=two_d, samples=int(t_model_out.shape[0]))
    cache: dict[tuple[float, float], np.ndarray] = {}

    def run(points: list[tuple[float, float]]) -> None:
        todo = [p for p in points if p not in cache]
        for p, t in zip(todo, simulate(todo), strict=True):
            cache[p] = t
            out.measured[p] = spike_rmse_ns(t_model_out, t, t_circ)

    center = (1.0, 1.0)
    for round_no in range(rounds):
        design = _design(center, design_step, two_d, design_2d)
        if min(min(p) for p in design) <= 0:
            raise ValueError(f"design {design} has a non-positive scale; use a smaller design_step")
        run(design)
        dims = 2 if two_d else 1
        objective = _surface_rmse(design, [cache[p] for p in design], center, dims, t_model_out, t_circ)
        pos = _grid(center[0] - design_step, center[0] + design_step, grid_step)
        neg = _grid(center[1] - design_step, center[1] + design_step, grid_step) if two_d else None
        (a_pos, a_neg, best), land = grid_search_scaling(objective, pos, neg, mode="min")
        best_pt = (round(a_pos, 6), round(a_neg, 6))
        on_edge = any(abs(b - c) > design_step - grid_step / 2
                      for b, c in zip(best_pt[:dims], center[:dims], strict=True))
        out.rounds.append({
            "round": round_no, "center": list(center), "design": [list(p) for p in design],
            "design_rmse_ns": [out.measured[p] for p in design],
            "alphas_pos": pos.tolist(), "alphas_neg": None if neg is None else neg.tolist(),
            "landscape_ns": land.tolist(), "fitted_best": list(best_pt), "fitted_best_ns": best,
            "at_edge": bool(on_edge),
        })
        if not on_edge:
            break
        center = best_pt
    run([best_pt])  # confirm the fitted optimum with real SPICE runs
    out.chosen = min(out.measured, key=lambda p: out.measured[p])
    out.wall_s = time.perf_counter() - start
    return out


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
            "measured_readout": None if self.readout_out is None else {
                "rmse_ns": self.rmse_readout_ns, "rmse_hidden_ns": self.rmse_hidden_readout_ns},
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
) -> MappingValidation:
    """Map, search the scale, simulate and compare one mapping (module docstring, steps 2–5).

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
        raise ValueError(f"samples_per_deck {samples_per_deck} must divide search_samples {n_search} "
                         "(the final run then reuses the search decks)")
    w1, w2 = prune_small(w_hidden, prune_below), prune_small(w_out, prune_below)
    n_pruned = int(((w1 == 0) & (np.asarray(w_hidden) != 0)).sum() + ((w2 == 0) & (np.asarray(w_out) != 0)).sum())
    two_d = name == "top_down"
    reach = design_step * rounds  # the design moves by at most one step per round
    corners = [(1 - reach, 1 - reach), (1 + reach, 1 + reach), (1 - reach, 1 + reach), (1 + reach, 1 - reach)]
    check_realisable(mapping, {"weights_hidden": w1, "weights_out": w2}, corners)
    model_out = model_forward(w1, w2, x, model)
    out_dir = Path(out_dir)

    def sim(scale: tuple[float, float], samples: int) -> SimulationResult:
        return simulate_network(w1, w2, x[:samples], out_dir=out_dir, scale=scale, characterisation=mapping,
                                params=params, name=name, samples_per_deck=min(samples_per_deck, samples),
                                workers=1)

    def simulate_search(points: list[tuple[float, float]]) -> list[np.ndarray]:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = list(pool.map(lambda p: sim(p, n_search), points))
        return [spice_times(r, 2) for r in results]

    search = scaling_search(simulate_search, model_out["t2"][:n_search], two_d=two_d, design_step=design_step,
                            design_2d=design_2d, grid_step=grid_step, rounds=rounds, t_circ=params.t_circ)
    t_final = time.perf_counter()
    full = simulate_network(w1, w2, x, out_dir=out_dir, scale=search.chosen, characterisation=mapping,
                            params=params, name=name, samples_per_deck=min(samples_per_deck, x.shape[0]),
                            workers=workers)
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
        name=name, model=model, w_hidden=w1, w_out=w2, n_pruned=n_pruned, scale=search.chosen, search=search,
        sim=full, model_out=model_out, t_model=t_model, t_spice=t_spice,
        rmse_ns=spike_rmse_ns(t_model[1], t_spice[1], params.t_circ),
        rmse_hidden_ns=spike_rmse_ns(t_model[0], t_spice[0], params.t_circ),
        sample_rmse_ns=sample_rmse, worst=int(np.argmax(sample_rmse)),
        wall_s={"search": search.wall_s, "final": end - t_final, "total": end - start},
        cached=all(full.cached),
        readout_out=readout_out,
        rmse_readout_ns=None if readout_out is None else spike_rmse_ns(readout_out["t2"], t_spice[1], params.t_circ),
        rmse_hidden_readout_ns=None if readout_out is None else spike_rmse_ns(readout_out["t1"], t_spice[0],
                                                                              params.t_circ),
    )


def accuracy(t_out: np.ndarray, labels: np.ndarray, n_classes: int = 3) -> float:
    """Fraction of samples whose earliest class output (outputs 0..n_classes-1) is the label."""
    return float(np.mean(np.argmin(np.asarray(t_out)[:, :n_classes], 1) == np.asarray(labels)))


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
    p, lam = characterisation.params, characterisation.lambdas
    lone, wired = characterisation.reversal["lone"], characterisation.reversal["wired"]
    bu, td = configs["bottom_up"], configs["top_down"]

    def row(group: str, parameter: str, unit: str, paper: Any, ours: Any, note: str = "") -> dict[str, Any]:
        return {"group": group, "parameter": parameter, "unit": unit, "paper": paper, "ours": ours, "note": note}

    def pair(a: float, b: float) -> str:
        return f"{a:.3f} (as wired {b:.3f})"

    return [
        row("circuit", "V_dd", "V", 1.8, p["vdd"], "set"),
        row("circuit", "C_m", "fF", 140, round(1e15 * characterisation.membrane["c_at_v0"], 1),
            "membrane node at V0 (capacitor + transistors), AC-measured"),
        row("circuit", "T_circ", "µs", 1, 1e6 * p["t_circ"], "set"),
        row("circuit", "V_switch", "V", PAPER_VALUES["v_switch"], round(characterisation.firing["v_switch_dynamic"], 3),
            f"membrane at the output spike in the firing ramp; DC transfer curve "
            f"{characterisation.sense['v_switch_dc']:.3f} V"),
        row("circuit", "V0", "V", 1.3, p["v0"], "set"),
        row("circuit", "V_th^circ = V0 − V_switch", "V", 0.872, p["vth_circ"], "set"),
        row("circuit", "V_b^sense", "V", 0.95, p["vb_sense"], "set"),
        row("circuit", "V_b^dis", "V", 0.554, p["vb_dis"], "set"),
        row("circuit", "λ_N", "1/V", PAPER_VALUES["lambda_n"], pair(lam["nmos_lone"], lam["nmos_synapse"]),
            "lone transistor (synapse as wired)"),
        row("circuit", "λ_P", "1/V", PAPER_VALUES["lambda_p"], pair(lam["pmos_lone"], lam["pmos_synapse"]),
            "lone transistor (synapse as wired)"),
        row("circuit", "λ_dis", "1/V", PAPER_VALUES["lambda_dis"],
            pair(lam["discharger_lone"], lam["discharger_wired"]), "lone discharger (with its enable switch)"),
        row("circuit", "synapse transistors W / L", "µm", "1 / 0.25", f"{SYNAPSE_W_UM:g} / {SYNAPSE_L_UM:g}", "set"),
        row("circuit", "current of one weight unit C_m V_th^circ / T_circ", "nA", 122,
            round(1e9 * p["c_m"] * p["vth_circ"] / p["t_circ"], 1), "paper value inferred"),
        row("model", "E⁺ = 1/(V_th^circ λ_N)", "", PAPER_VALUES["e_plus"], pair(lone["e_plus"], wired["e_plus"]),
            "bottom-up model uses the as-wired value"),
        row("model", "E⁻ = −1/(V_th^circ λ_P)", "", PAPER_VALUES["e_minus"], pair(lone["e_minus"], wired["e_minus"]),
            "bottom-up model uses the as-wired value"),
        row("model", "E_dis = 1/(V_th^circ λ_dis)", "", PAPER_VALUES["e_dis"], pair(lone["e_dis"], wired["e_dis"]),
            "bottom-up readout uses the as-wired value"),
        row("model", "|E±| of the top-down (ANN) model", "", TOP_DOWN_E, td["e_pos"], "ideal firing ramp"),
        row("model", "network", "", "5-5-5", "5-5-5", "4 Iris features + bias spike; 3 classes on outputs 0-2"),
        row("learning", "learning rate η", "", 1e-3, bu["lr"], "Adam"),
        row("learning", "batch size", "", 50, bu["batch"], ""),
        row("learning", "τ_soft", "", 0.07, bu["tau_soft"], ""),
        row("learning", "temporal penalty γ_T", "", 0.1, bu["gamma1"], ""),
        row("learning", "weight L2 penalty γ_W", "", 1e-2, bu["gamma_w"], ""),
        row("learning", "early-spike penalty γ_V", "", 0.2, bu["gamma_v"], ""),
        row("learning", "t_ref", "", "not given", bu["t_ref"],
            "our choice; the paper's Fashion-MNIST value 0.9 silenced class outputs (OPEN_TRAIN)"),
        row("learning", "epochs", "", "not given", bu["epochs"], "our choice"),
        row("learning", "DSTD M (training / test)", "", "not given", f"{bu['steps']} / {bu['eval_steps']}",
            f"{bu['offset']} offset"),
        row("learning", "σ_spike", "", "not given", bu["sigma"], "training only; the comparison is noise-free"),
    ]
