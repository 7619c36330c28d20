"""Simulate the IMC network in ngspice and read back membranes and spike times.

Entry points:

* :func:`simulate_network` -- the paper's 2-layer circuit (Sec. 6, Fig. 7):
  hidden and output weights -> gate biases (:mod:`.mapping`) -> pipelined
  deck(s) (:mod:`.netlist`) -> ngspice pool (:mod:`.runner`) -> arrays.
* :func:`simulate_layer` -- one layer (single neurons / single synapses for
  tests and calibration).
* :func:`simulate_biases` -- any number of layers given gate biases directly.

Several samples run in one ngspice process (one long transient in which the
pipeline repeats every 3 T_circ) to amortise the ~3 s model load; the samples
are split over ``workers`` processes.

Normalised units (Sec. 1.7, App. A.2): membrane v = -(V - V0) / V_th^circ
(the circuit's polarity is inverted), times in units of T_circ from the start
of the phase.  A spike time is where a neuron's output line crosses V_dd / 2
rising during its firing phase, linearly interpolated between time steps;
``nan`` when it does not fire.

Limits of the circuit the RC-Spike model does not have: the membrane cannot
rise above V_dd, so v >= -(V_dd - V0) / V_th^circ = -0.573 (inhibitory input
saturates there, long before E^- = -1.5), and it cannot fall below 0 V
(v <= 1.49); a neuron that ends accumulation past threshold fires after the
output chain's start-up delay (~7 ns) rather than at t = 0.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pnnlib.io import atomic_path

from .characterise import Characterisation, characterise_devices
from .mapping import WeightMapping
from .models import sky130_lib_path
from .netlist import ACCUMULATE, FIRE, NETWORK_DATA, LayerBiases, network_deck, phase_start
from .params import CircuitParams
from .runner import DEFAULT_TIMEOUT_S, Job, default_workers, run_jobs
from .waveforms import first_crossing, read_wrdata

#: Most samples in one ngspice deck (keeps a deck well inside its timeout).
MAX_SAMPLES_PER_DECK = 25


@dataclass
class SimulationResult:
    """Membrane traces and spike times of a simulated network.

    Per layer ``l`` (list index ``l - 1``) with ``N_l`` neurons, ``S`` samples:

    Attributes:
        t_norm: ``(n_t,)`` trace time axis in units of T_circ from the start of
            the layer's accumulation phase: [0, 1] accumulation, [1, 2] firing.
        v_mem: ``(S, N_l, n_t)`` membrane voltages [V].
        v_end_acc: ``(S, N_l)`` normalised membrane v at the end of accumulation.
        spike_times: ``(S, N_l)`` normalised spike times from the start of the
            firing phase (``nan``: no spike).
        biases: gate biases used per layer.
        params: circuit parameters.
        decks, logs: netlist and log path of every ngspice run.
        wall_s: ngspice wall time of every run [s] (of the original run if cached).
        cached: whether each run was reused from the cache.
    """

    t_norm: np.ndarray
    v_mem: list[np.ndarray]
    v_end_acc: list[np.ndarray]
    spike_times: list[np.ndarray]
    biases: list[LayerBiases]
    params: CircuitParams
    decks: list[Path] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    cached: list[bool] = field(default_factory=list)

    def v_norm(self, layer: int) -> np.ndarray:
        """Normalised membrane v = -(V - V0) / V_th^circ of 1-based ``layer``."""
        return -(self.v_mem[layer - 1] - self.params.v0) / self.params.vth_circ

    def spike_times_ns(self, layer: int) -> np.ndarray:
        """Spike times of 1-based ``layer`` in ns from the start of its firing phase."""
        return self.spike_times[layer - 1] * self.params.t_circ * 1e9

    def spike_times_clipped(self, layer: int) -> np.ndarray:
        """Spike times clipped to [0, 1] with no spike read as 1 (RC-Spike, Sec. 1.4)."""
        t = self.spike_times[layer - 1]
        return np.clip(np.where(np.isnan(t), 1.0, t), 0.0, 1.0)

    def save_npz(self, path: str | os.PathLike[str]) -> Path:
        """Save the arrays (traces, spike times, biases) to ``.npz`` atomically."""
        arrays: dict[str, np.ndarray] = {"t_norm": self.t_norm}
        for l in range(1, len(self.v_mem) + 1):
            arrays[f"v_mem_{l}"] = self.v_mem[l - 1]
            arrays[f"v_end_acc_{l}"] = self.v_end_acc[l - 1]
            arrays[f"spike_times_{l}"] = self.spike_times[l - 1]
            arrays[f"v_n_{l}"] = self.biases[l - 1].v_n
            arrays[f"v_p_{l}"] = self.biases[l - 1].v_p
        with atomic_path(path) as tmp, tmp.open("wb") as fh:
            np.savez_compressed(fh, **arrays)
        return Path(path)


def iris_input_times(x: np.ndarray) -> np.ndarray:
    """Iris encoding (Sec. 1.6): t_i = x_i for the 4 features, plus a bias spike
    t_4 = 0; ``x`` of shape (S, 4) in [0, 1] -> (S, 5)."""
    x = np.atleast_2d(np.asarray(x, float))
    return np.concatenate([x, np.zeros((x.shape[0], 1))], axis=1)


def _chunks(n: int, per_deck: int) -> list[range]:
    return [range(a, min(a + per_deck, n)) for a in range(0, n, per_deck)]


def _parse(
    path: Path, n_samples: int, widths: Sequence[int], params: CircuitParams, t_norm: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    d = read_wrdata(path)
    t = d["time"]
    T = params.t_circ
    half = params.spike_level_frac * params.vdd
    v_mem, v_end, spikes = [], [], []
    for l, n in enumerate(widths, start=1):
        vm = np.empty((n_samples, n, t_norm.size))
        ve = np.empty((n_samples, n))
        sp = np.empty((n_samples, n))
        for k in range(n_samples):
            acc = phase_start(k, l, ACCUMULATE, T)
            fire = phase_start(k, l, FIRE, T)
            for i in range(n):
                m = d[f"v(m{l}_{i})"]
                vm[k, i] = np.interp(acc + t_norm * T, t, m)
                ve[k, i] = -(np.interp(fire, t, m) - params.v0) / params.vth_circ
                tc = first_crossing(t, d[f"v(s{l}_{i})"], half, fire, fire + T)
                sp[k, i] = (tc - fire) / T
        v_mem.append(vm)
        v_end.append(ve)
        spikes.append(sp)
    return v_mem, v_end, spikes


def simulate_biases(
    biases: Sequence[LayerBiases],
    input_times: np.ndarray,
    *,
    out_dir: str | os.PathLike[str],
    params: CircuitParams | None = None,
    name: str = "network",
    samples_per_deck: int | None = None,
    workers: int | None = None,
    ngspice: str | None = None,
    lib: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    trace_step: float = 2e-9,
) -> SimulationResult:
    """Simulate a multi-layer network given its gate biases.

    Args:
        biases: per layer, the (n_out, n_in) gate biases.
        input_times: (S, n_in) normalised input spike times (>= 1 or nan: none).
        out_dir: directory of the run directories (deck, log, data per run).
        params: circuit parameters.
        name: prefix of the run directories.
        samples_per_deck: samples per ngspice process (default: spread evenly
            over ``workers``, at most ``MAX_SAMPLES_PER_DECK``).
        workers: parallel ngspice processes (default: usable cores).
        ngspice, lib: executable and model library overrides.
        timeout: per-deck limit [s].
        trace_step: spacing of the returned membrane traces [s].
    """
    params = params or CircuitParams()
    x = np.atleast_2d(np.asarray(input_times, float))
    n_samples = x.shape[0]
    workers = workers or default_workers()
    per = samples_per_deck or min(MAX_SAMPLES_PER_DECK, math.ceil(n_samples / workers))
    lib_path = sky130_lib_path(lib=lib)
    jobs = [
        Job(
            f"{name}-{c.start:04d}",
            network_deck(biases, x[c], params, title=f"{name}: samples {c.start}-{c.stop - 1}", lib=lib_path),
            (NETWORK_DATA,),
        )
        for c in _chunks(n_samples, per)
    ]
    results = run_jobs(jobs, out_dir, ngspice=ngspice, workers=workers, timeout=timeout)
    widths = [b.shape[0] for b in biases]
    t_norm = np.linspace(0.0, 2.0, int(round(2 * params.t_circ / trace_step)) + 1)
    parts = [
        _parse(r.outputs[NETWORK_DATA], len(c), widths, params, t_norm)
        for r, c in zip(results, _chunks(n_samples, per), strict=True)
    ]
    return SimulationResult(
        t_norm=t_norm,
        v_mem=[np.concatenate([p[0][l] for p in parts]) for l in range(len(widths))],
        v_end_acc=[np.concatenate([p[1][l] for p in parts]) for l in range(len(widths))],
        spike_times=[np.concatenate([p[2][l] for p in parts]) for l in range(len(widths))],
        biases=list(biases),
        params=params,
        decks=[r.deck_path for r in results],
        logs=[r.log_path for r in results],
        wall_s=[r.wall_s for r in results],
        cached=[r.cached for r in results],
    )


def _mapping(
    characterisation: Characterisation | WeightMapping | None,
    params: CircuitParams,
    out_dir: str | os.PathLike[str],
    ngspice: str | None,
    lib: str | os.PathLike[str] | None,
) -> WeightMapping:
    if isinstance(characterisation, WeightMapping):
        return characterisation
    if characterisation is None:
        characterisation = characterise_devices(
            Path(out_dir) / "devices", params.corner, params=params, ngspice=ngspice, lib=lib
        )
    return characterisation.mapping(params)


def simulate_network(
    weights_hidden: np.ndarray,
    weights_out: np.ndarray,
    input_times: np.ndarray,
    *,
    out_dir: str | os.PathLike[str],
    scale: float | Sequence[float] = (1.0, 1.0),
    characterisation: Characterisation | WeightMapping | None = None,
    params: CircuitParams | None = None,
    name: str = "network",
    samples_per_deck: int | None = None,
    workers: int | None = None,
    ngspice: str | None = None,
    lib: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    trace_step: float = 2e-9,
) -> SimulationResult:
    """Simulate the paper's 2-layer IMC circuit (Sec. 6) on several samples.

    Args:
        weights_hidden: (N_hidden, N_in) weights w_ij of layer 1 (paper: 5 x 5).
        weights_out: (N_out, N_hidden) weights of layer 2 (paper: 5 x 5).
        input_times: (S, N_in) normalised input spike times (Iris: see
            :func:`iris_input_times`).
        out_dir: directory of the run directories.
        scale: current scale: a scalar alpha (1-D, PNN-to-IMC) or the pair
            (alpha^+, alpha^-) (2-D, ANN-to-IMC) applied to both layers (Sec. 1.8).
        characterisation: device characterisation (or a ready mapping) for the
            weight -> bias conversion; default: run :func:`characterise_devices`
            into ``<out_dir>/devices`` (cached).
        params: circuit parameters.
        name, samples_per_deck, workers, ngspice, lib, timeout, trace_step:
            as in :func:`simulate_biases`.

    Raises:
        ValueError: a weight is not realisable (names the matrix and index).
        SimulationError: ngspice failed (quotes its log and the netlist path).
    """
    params = params or CircuitParams()
    mapping = _mapping(characterisation, params, out_dir, ngspice, lib)
    biases = [
        mapping.weights_to_biases(weights_hidden, scale, name="weights_hidden"),
        mapping.weights_to_biases(weights_out, scale, name="weights_out"),
    ]
    return simulate_biases(
        biases,
        input_times,
        out_dir=out_dir,
        params=params,
        name=name,
        samples_per_deck=samples_per_deck,
        workers=workers,
        ngspice=ngspice,
        lib=lib,
        timeout=timeout,
        trace_step=trace_step,
    )


def simulate_layer(
    weights: np.ndarray,
    input_times: np.ndarray,
    *,
    out_dir: str | os.PathLike[str],
    scale: float | Sequence[float] = (1.0, 1.0),
    characterisation: Characterisation | WeightMapping | None = None,
    params: CircuitParams | None = None,
    name: str = "layer",
    samples_per_deck: int | None = None,
    workers: int | None = None,
    ngspice: str | None = None,
    lib: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    trace_step: float = 2e-9,
) -> SimulationResult:
    """Simulate one layer: ``weights`` of shape (N_out, N_in), e.g. (1, 1) for a
    single synapse on a single neuron.  Arguments as :func:`simulate_network`."""
    params = params or CircuitParams()
    mapping = _mapping(characterisation, params, out_dir, ngspice, lib)
    biases = [mapping.weights_to_biases(weights, scale, name="weights")]
    return simulate_biases(
        biases,
        input_times,
        out_dir=out_dir,
        params=params,
        name=name,
        samples_per_deck=samples_per_deck,
        workers=workers,
        ngspice=ngspice,
        lib=lib,
        timeout=timeout,
        trace_step=trace_step,
    )
