r"""The neuron models of the two mappings and how their spike times are read out and compared
(paper-spec §1.2–§1.4, §1.7): :class:`NeuronModel` (E±, E_dis), the exact forward pass
(:func:`model_forward`) and membrane trajectories (:func:`model_membrane_traces`), the measured
readout (:class:`CircuitReadout`, :func:`readout_forward`; our extension, see the package
docstring), and the model-versus-SPICE metrics (:func:`spike_rmse_ns`, :func:`accuracy`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pnnlib.circuit import Characterisation, CircuitParams, SimulationResult
from pnnlib.circuit.netlist import LayerBiases
from pnnlib.core.neuron import rcspike_exact, rcspike_fire_time

MAPPINGS = ("top_down", "bottom_up")
"""The two mappings of §1.8: ANN-to-IMC (top-down) and PNN-to-IMC (bottom-up)."""

CLASS_OUTPUTS = 3
"""Iris classes, on outputs 0–2 of the 5; outputs 3–4 are spare (pushed late in training)."""

TOP_DOWN_E = 100.0
"""|E±| of the paper's stand-in ANN (§1.4, §1.8)."""


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
    r"""Measured circuit effects for the refined bottom-up model (package docstring, "Measured readout").

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
            raise ValueError(
                "the device characterisation has no selector turn-off / firing-phase results: "
                "rerun the devices stage (pnnlib.circuit.characterise_devices)"
            )
        p = CircuitParams(**char.params)
        t_fire = float(char.firing["t_fire_no_input"])
        t = np.asarray(char.firing["t"], float) / p.t_circ
        v = -(np.asarray(char.firing["v_mem"], float) - p.v0) / p.vth_circ
        keep = (t >= 0) & (t <= t_fire)
        steps = {}
        for driver, tables in char.selector.items():
            n, q = tables["nmos"], tables["pmos"]
            on, op = np.argsort(n["vg"]), np.argsort(q["vg"])
            steps[driver] = (
                np.asarray(n["vg"], float)[on],
                np.asarray(n["dv"], float)[on],
                np.asarray(q["vg"], float)[op],
                np.asarray(q["dv"], float)[op],
            )
        return cls(
            ramp_t=t[keep],
            ramp_v=np.maximum.accumulate(v[keep]),
            t_fire_no_input=t_fire,
            start_delay=float(char.firing["start_delay_ns"]) * 1e-9 / p.t_circ,
            steps=steps,
            vth=p.vth_circ,
        )

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


def readout_forward(
    w_hidden: np.ndarray,
    w_out: np.ndarray,
    t_in: np.ndarray,
    model: NeuronModel,
    readout: CircuitReadout,
    biases: Sequence[LayerBiases],
) -> dict[str, np.ndarray]:
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


# --------------------------------------------------------------------------- model


def model_forward(
    w_hidden: np.ndarray, w_out: np.ndarray, t_in: np.ndarray, model: NeuronModel
) -> dict[str, np.ndarray]:
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


def model_membrane_traces(
    w_hidden: np.ndarray, w_out: np.ndarray, t_in: np.ndarray, model: NeuronModel, t_norm: np.ndarray
) -> list[np.ndarray]:
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
        v_acc = torch.stack(
            [
                rcspike_exact(t, wt, model.e_pos, model.e_neg, t_end=float(tau), check=False)[0]
                for tau in np.maximum(acc, 1e-12)
            ],
            1,
        ).numpy()
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


def accuracy(t_out: np.ndarray, labels: np.ndarray, n_classes: int = CLASS_OUTPUTS) -> float:
    """Fraction of samples whose earliest class output (outputs 0..n_classes-1) is the label."""
    return float(np.mean(np.argmin(np.asarray(t_out)[:, :n_classes], 1) == np.asarray(labels)))
