"""Circuit parameters of the sky130 IMC circuit (paper Table 2, Appendix G).

Every value the paper gives is taken from Table 2 / Appendix G; every value it
leaves open (Sec. 8, open question 13 of the project's paper spec) is a named
field below with a comment saying why it was chosen.  ``CircuitParams`` is a
frozen dataclass; use :func:`dataclasses.replace` to change a field.

The simulated circuit is schematic-level.  The paper's simulations are
post-layout (magic RC extraction); ``parasitics=True`` only adds *estimated*
wiring capacitances (``c_par_mem``, ``c_par_dend_per_synapse``) -- estimates,
not an extraction.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

#: Simulation temperatures a deck may ask for [C]: the range the pipeline's schema accepts
#: (military range; sky130's models are characterised over -40 ... 125 C).
TEMP_RANGE_C: tuple[float, float] = (-55.0, 125.0)

#: What a name that enters a deck or a run directory may look like, as a whole (``fullmatch``:
#: ``re.match`` with ``$`` would let a trailing newline through): corners, run names.
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")

#: Largest seed of ngspice's random generator (``.options seed``) for mismatch instances.
MAX_SEED: int = 2**31 - 1

#: Ends of the linear fit of I_D(V_D) that gives lambda (paper Appendix G text:
#: "0.46-1.36 V"; the Fig. 17 caption says 0.43 V).
FIT_RANGE_V: tuple[float, float] = (0.46, 1.36)

#: Transistor geometry of all four synapse transistors (paper Fig. 6c), in um.
SYNAPSE_W_UM: float = 1.0
SYNAPSE_L_UM: float = 0.25

#: Discharger channel length in um.  Open in the paper; L = 0.5 um is the
#: length at which a W = 1 um sky130 nfet_01v8 biased at V_b^dis = 0.554 V has
#: lambda = 0.177 1/V, exactly Table 2's lambda_dis (L = 0.25 um gives 0.40).
DISCHARGER_L_UM: float = 0.5

#: Discharger width in um for a membrane node of 140 fF (open in the paper).
#: Chosen so that a neuron with no input (v = 0 at the end of accumulation)
#: fires about 4 ns after the end of its firing phase (tt, 27 C), i.e. it does
#: not fire (paper Fig. 20: V_b^dis is set "so that no spike fires without
#: inputs") while the discharge still takes the full T_circ that the E_dis
#: readout of Sec. 1.7 assumes.  Scaled with the node capacitance
#: (``CircuitParams.w_dis_um``).
DISCHARGER_W_UM_AT_140FF: float = 1.113

#: Reference membrane capacitance for ``DISCHARGER_W_UM_AT_140FF``.
_C_REF: float = 140e-15

#: Small-signal capacitance the transistors of one neuron add to its membrane
#: node at V = V0 (ngspice AC analysis, tt, 27 C; varies by about -15 % down to
#: V = 0.4 V): mostly the gate of the sensing inverter's LVT NMOS.  Measured
#: again by ``characterise_devices`` (``membrane_capacitance``).
C_DEVICES_NEURON: float = 10.1e-15

#: Same, per synapse block on the dendrite (drains of NM and PM).
C_DEVICES_PER_SYNAPSE: float = 0.62e-15


@dataclass(frozen=True)
class CircuitParams:
    """Electrical and simulation parameters of the IMC circuit.

    Table-2 values: ``vdd``, ``c_m``, ``t_circ``, ``v_switch``, ``v0``,
    ``vth_circ``, ``vb_sense``, ``vb_dis``.  The rest are open choices.
    """

    # --- paper Table 2 ---------------------------------------------------
    vdd: float = 1.8  #: supply V_dd [V]
    c_m: float = 140e-15  #: membrane capacitance C_m [F] (used by the weight mapping)
    t_circ: float = 1e-6  #: phase length T_circ [s]
    v_switch: float = 0.428  #: sensing-inverter switching voltage V_switch [V]
    v0: float = 1.3  #: reset level of the membrane V0 [V]
    vth_circ: float = 0.872  #: V_th^circ = V0 - V_switch [V]
    vb_sense: float = 0.95  #: sensing-inverter bias V_b^sense [V]
    vb_dis: float = 0.554  #: discharger bias V_b^dis [V]

    # --- process / simulator (open: paper gives no corner or temperature) ----
    corner: str = "tt"  #: sky130 model corner (.lib section; checked against the library)
    temp_c: float = 27.0  #: simulation temperature [C] (SPICE default nominal), in TEMP_RANGE_C
    #: Per-device mismatch: ``None`` (off) or the seed of ngspice's random generator. When set,
    #: decks select the corner's ``<corner>_mm`` section of the sky130 library (which sets
    #: ``MC_MM_SWITCH = 1``, so every transistor instance draws its own threshold and other
    #: parameter offsets with ``AGAUSS``, scaled by ``mismatch_factor`` = 1) and write
    #: ``.options seed=<seed>``: the same seed and netlist structure give the same devices, so
    #: a deck reruns by hand to the same result and two networks with the same seed sit on the
    #: same "chip".
    mismatch_seed: int | None = None

    # --- membrane capacitor -----------------------------------------------
    #: "ideal" (default): an ideal capacitor sized so that the membrane node's
    #: total capacitance at V0 (capacitor + the neuron's and synapses'
    #: transistors) is Table 2's C_m = 140 fF, the value the weight mapping
    #: uses; the paper's 140 fF is likewise the drawn 103.3 fF MIM capacitor
    #: plus what the layout adds.  "mim": the drawn sky130 MIM capacitor
    #: (``mim_side`` x ``mim_side`` um, ~98 fF at 7 um, Fig. 18) plus the
    #: transistors, i.e. a node of ~110 fF.
    membrane: Literal["ideal", "mim"] = "ideal"
    mim_side_um: float = 7.0  #: side of the MIM capacitor [um] (Fig. 18: 7 x 7 um)

    # --- parasitics (estimates, not an extraction; off by default) ---------
    #: Add estimated wiring capacitance on the membrane and dendrite nodes.
    parasitics: bool = False
    #: Estimated capacitance per membrane node [F]: MIM top-plate (metal 5) via
    #: stack and routing to the neuron, ~2 fF.
    c_par_mem: float = 2e-15
    #: Estimated dendrite (metal-2) wire capacitance per synapse block [F]:
    #: ~5 um pitch at ~0.1 fF/um including fringe, ~0.5 fF.
    c_par_dend_per_synapse: float = 0.5e-15

    # --- neuron transistor sizes (open in the paper) ----------------------
    #: LVT-NMOS width of the sensing inverter [um] and bias-PMOS length [um].
    #: With these the output spike fires while the membrane ramps down through
    #: ~0.428 V in the firing phase (Table 2: V_switch = 0.428 V); the DC
    #: transfer curve switches a little higher because the current-starved
    #: inverter lags the ramp by ~10 ns.  A weaker bias (L = 0.5 um) with a
    #: 1-um NMOS also gives V_switch = 0.428 V but delays a spike that fires at
    #: the start of the firing phase by ~37 ns instead of ~8 ns.
    w_sense_n_um: float = 5.8
    l_sense_bias_um: float = 0.25

    # --- stimulus and transient (open in the paper) -----------------------
    #: Rise/fall time of every spike input and control signal [s].  Each edge
    #: is centred on its nominal time, so its 50 % point is exact.
    edge: float = 1e-9
    #: Maximum transient time step [s] (sub-step crossing times are linearly
    #: interpolated).  With reltol below, 1 ns agrees with a 0.2-ns step at
    #: reltol = 1e-5 to 0.1 ns RMS in spike times (5 Iris samples, both layers).
    t_step_max: float = 1e-9
    #: ngspice's transient truncation-error factor TRTOL (its default is 7).  At
    #: the default the trapezoidal step control lets a fast spike edge on an
    #: output line kick a membrane by up to ~15 mV (~17 ns of spike time) that a
    #: finer step does not reproduce: a numerical, not a circuit, effect.  With
    #: TRTOL = 1 the bottom-up model-vs-SPICE RMSE on the Iris test samples falls
    #: from 9.7 ns to 2.9 ns (same weights and scale) at a similar run time.
    trtol: float = 1.0
    #: ngspice's relative tolerance RELTOL (its default is 1e-3).  It bounds the
    #: Newton and truncation errors relative to the node voltages, i.e. ~1.3 mV
    #: on a membrane at V0, and those errors add up over a phase: at the default
    #: the spike times of a 5-5-5 network move by 1.8 ns RMS (both layers) when
    #: the step is cut to 0.1 ns, and the membrane step at the phase boundary by
    #: 1.5 mV RMS.  At 1e-4 the 1-ns run agrees with a converged one (0.2-ns
    #: step, reltol = 1e-5) to 0.09 ns RMS, and it runs faster (fewer rejected
    #: steps): 22 s instead of 37 s for a 5-sample network deck on this machine.
    reltol: float = 1e-4
    #: A spike input is a step that rises at its spike time and stays high to
    #: the end of the accumulation phase (RC-Spike's theta(t - t_j), Sec. 1.2);
    #: the circuit's output spikes have the same shape (high from the firing
    #: time to the end of the firing phase).  Spike times are read where the
    #: output crosses this fraction of V_dd.
    spike_level_frac: float = 0.5

    def __post_init__(self) -> None:
        """Refuse values that could not be written into a deck as what they claim to be: a
        corner that is not a plain name (a newline would let it add SPICE or ``.control``
        lines), a non-finite number, a temperature outside ``TEMP_RANGE_C``, a bad seed."""
        if not isinstance(self.corner, str) or not SAFE_NAME.fullmatch(self.corner):
            raise ValueError(f"corner must be a model-library section name, got {self.corner!r}")
        if self.membrane not in ("ideal", "mim"):
            raise ValueError(f"membrane must be 'ideal' or 'mim', got {self.membrane!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("corner", "membrane", "mismatch_seed", "parasitics"):
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, got {value!r}")
        if not isinstance(self.parasitics, bool):
            raise ValueError(f"parasitics must be True or False, got {self.parasitics!r}")
        lo, hi = TEMP_RANGE_C
        if not lo <= self.temp_c <= hi:
            raise ValueError(f"temp_c must lie in [{lo:g}, {hi:g}] C, got {self.temp_c!r}")
        seed = self.mismatch_seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 1 <= seed <= MAX_SEED):
            raise ValueError(f"mismatch_seed must be None or an integer in [1, {MAX_SEED}], got {seed!r}")

    @property
    def library_section(self) -> str:
        """The model-library section a deck selects: the corner, or ``<corner>_mm`` with mismatch."""
        return self.corner if self.mismatch_seed is None else f"{self.corner}_mm"

    def c_node(self, n_inputs: int) -> float:
        """Estimated total capacitance of a membrane node with ``n_inputs``
        synapse blocks at V0 [F]: capacitor + transistors (+ parasitics)."""
        c_dev = C_DEVICES_NEURON + n_inputs * C_DEVICES_PER_SYNAPSE
        if self.membrane == "ideal":
            c = self.c_m
        else:
            # sky130 MIM: 2 fF/um^2 area cap (cap_mim_m3_1, tt): 7 um -> ~98 fF.
            c = 2.0e-15 * self.mim_side_um**2 + c_dev
        if self.parasitics:
            c += self.c_par_mem + n_inputs * self.c_par_dend_per_synapse
        return c

    def c_ideal_element(self, n_inputs: int) -> float:
        """Value of the ideal membrane capacitor for ``membrane="ideal"`` [F]:
        C_m minus the estimated transistor capacitance on the node."""
        return self.c_m - C_DEVICES_NEURON - n_inputs * C_DEVICES_PER_SYNAPSE

    def w_dis_um(self, n_inputs: int) -> float:
        """Discharger width [um]: ``DISCHARGER_W_UM_AT_140FF`` scaled by the node
        capacitance, so the no-input firing ramp keeps its T_circ duration."""
        return DISCHARGER_W_UM_AT_140FF * self.c_node(n_inputs) / _C_REF

    @property
    def unit_current(self) -> float:
        """Current of one weight unit, I = C_m V_th^circ / T_circ [A] (Sec. 1.8)."""
        return self.c_m * self.vth_circ / self.t_circ

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict of all fields."""
        return asdict(self)
