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

**Modules.** :mod:`.readout` (neuron models, forward passes, the measured readout, metrics),
:mod:`.scaling` (the response-surface search), :mod:`.training` (Iris training, the
characterisation), :mod:`.validation` (one mapping end to end, Table 2), :mod:`.conditions` (our
extension: process corners, temperature and device mismatch; imported from there). What
notebooks and tests imported from the single module before the split is re-exported here.
"""

from __future__ import annotations

from pnnlib.io import json_ready

from .readout import (
    CLASS_OUTPUTS,
    MAPPINGS,
    TOP_DOWN_E,
    CircuitReadout,
    NeuronModel,
    accuracy,
    fire_ramp,
    model_forward,
    model_membrane_traces,
    neuron_model,
    readout_forward,
    spice_times,
    spike_rmse_ns,
)
from .scaling import DESIGNS_2D, ScalingSearch, scaling_search
from .training import (
    OPEN_TRAIN,
    TABLE2_TRAIN,
    iris_train_config,
    load_characterisation,
    train_iris,
    train_mappings,
    trained_weights,
)
from .validation import (
    MappingValidation,
    check_realisable,
    class_interleaved_order,
    lambda_spread,
    network_currents,
    prune_small,
    table2_rows,
    validate_mapping,
)

__all__ = [
    "CLASS_OUTPUTS",
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
    "train_mappings",
    "trained_weights",
    "validate_mapping",
]
