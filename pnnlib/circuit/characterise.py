"""DC and transient characterisation of the sky130 devices (paper App. G, Table 2).

:func:`characterise_devices` runs three ngspice decks in parallel:

* ``devices`` (``spice/tb_devices.spice``): I_D-V_D families of the weight
  transistors at the paper's gate ranges (Fig. 17a,b: NMOS V_G 0.40-0.65 V,
  PMOS V_G 1.30-1.05 V, 0.02 V steps), alone and wired in a synapse block
  (selector + weight transistor, ``spice/synapse.spice``); I_D(V_G) tables at
  V_D = V0 for the weight mapping; the discharger (Fig. 20) alone and with its
  enable switch; the sensing inverter's transfer curve and supply currents
  versus V_b^sense (Fig. 19);
* ``neuron_fire`` (``spice/tb_neuron_fire.spice``): the firing phase of a
  neuron without input (no-input firing time, dynamic switching voltage) and
  of one that fires at once (start-up delay of the output chain);
* ``membrane_ac``: small-signal capacitance of a membrane node (capacitor +
  the neuron's and 5 synapses' transistors) versus its voltage.

Channel-length modulation (App. A.2): a linear fit I(V) = a V + b of the
current magnitude over V in ``FIT_RANGE_V`` = [0.46, 1.36] V gives
lambda = |a| / I(1.3 V), so that I(V) ~ I(V0) (1 + lambda (V - V0)) for the NMOS
(excitatory, discharger) and I(V0) (1 - lambda (V - V0)) for the PMOS.  With
v = -(V - V0) / V_th^circ the normalised reversal potentials are

    E^+ = 1 / (V_th^circ lambda_N),  E^- = -1 / (V_th^circ lambda_P),
    E_dis = 1 / (V_th^circ lambda_dis)          (Table 2: 2.80, -1.53, 6.44).

lambda depends on the current (~5 % over the used range, Fig. 17c,d); the
single values reported are the median over the paper's gate-voltage family
for the weight transistors and the value at V_b^dis for the discharger.  Both
the lone-transistor values (comparable with the paper) and the as-wired values
(the synapse block of ``spice/synapse.spice``, which the bottom-up model must
use) are reported.

Longer than ~400 lines on purpose: the four benches share one parameter set and their readers
(``_family``, ``_sense``, ``_discharger``, ``_firing``, ``_membrane``, ``_selector``) parse the
files their decks write; splitting decks from readers would separate each format from its only
reader.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pnnlib.io import json_ready, write_text_atomic

from .mapping import IdVgTable, WeightMapping
from .models import sky130_lib_path
from .netlist import (
    deck_header,
    fmt,
    membrane_lines,
    pwl,
    render_template,
    supply_lines,
    template_values,
    wrap_line,
)
from .params import C_DEVICES_PER_SYNAPSE, FIT_RANGE_V, CircuitParams
from .runner import Job, JobResult, run_jobs
from .waveforms import crossings, first_crossing, linear_fit, read_wrdata, split_nested

#: Our names of the device values of Table 2 -> their keys in ``config/paper_values.yaml``.
_TABLE2_KEYS = {
    "lambda_n": "lambda_n",
    "lambda_p": "lambda_p",
    "lambda_dis": "lambda_dis",
    "e_plus": "e_pos",
    "e_minus": "e_neg",
    "e_dis": "e_dis",
    "v_switch": "v_switch",
}


def paper_device_values() -> dict[str, float]:
    """The paper's Table 2 device values (λ_N, λ_P, λ_dis, E⁺, E⁻, E_dis, V_switch), read from
    ``config/paper_values.yaml`` (references for the figures only; nothing is computed from them)."""
    from pnnlib.pipeline.record import load_paper_values

    table2 = {v["key"]: v["paper"] for v in load_paper_values()["items"]["table2"]["values"]}
    return {ours: float(table2[key]) for ours, key in _TABLE2_KEYS.items()}


#: Gate voltages of the I_D-V_D families (paper Fig. 17): start, stop, step [V].
NMOS_FAMILY_VG = (0.40, 0.65, 0.02)
PMOS_FAMILY_VG = (1.05, 1.30, 0.02)
#: Discharger bias family (Fig. 20b): start, stop, step [V].
DISCHARGER_FAMILY_VB = (0.50, 0.60, 0.01)
#: Sensing-inverter bias family (Fig. 19): start, stop, step [V].
SENSE_FAMILY_VB = (0.80, 1.20, 0.05)
#: Membrane voltages of the AC capacitance bench [V].
MEMBRANE_AC_LEVELS = (1.7, 1.5, 1.3, 1.1, 0.9, 0.7, 0.5, 0.4)
#: Synapse blocks on each membrane node of the neuron benches (paper: 5).
N_SYNAPSES = 5
#: Gate voltages of the selector turn-off bench [V]: NMOS from off (0 V) through the weight
#: range, PMOS from off (V_dd) down through its range.
SELECTOR_NMOS_VG = (0.0, 0.1, 0.2, *np.round(np.arange(0.25, 0.7001, 0.025), 3))
SELECTOR_PMOS_VG = (1.8, 1.7, 1.6, *np.round(np.arange(1.45, 0.9999, -0.025), 3))
#: Selector bench phases [s]: reset [0, T), accumulation [T, 2T), firing [2T, 3T) with T =
#: SELECTOR_T (a short cycle, so the test nodes drift little while their inputs are on); the step
#: is read SELECTOR_SETTLE after the inputs turn off at 3T.
SELECTOR_T, SELECTOR_SETTLE = 100e-9, 10e-9
#: Spike drivers of the selector bench: ``ideal`` (the PWL sources of the network's input layer)
#: and ``neuron`` (a neuron's output, which drives the next layer's synapses).
SELECTOR_DRIVERS = ("ideal", "neuron")

DEFAULT_CACHE = Path(os.environ.get("PNN_SPICE_CACHE", Path.home() / ".cache" / "pnnlib" / "spice"))
"""Run directory used when no ``out_dir`` is given (``$PNN_SPICE_CACHE``)."""


def _grid(start: float, stop: float, step: float) -> np.ndarray:
    return np.round(np.arange(start, stop + step / 2, step), 6)


def lambda_fit(v: np.ndarray, current: np.ndarray, params: CircuitParams) -> tuple[float, float]:
    """(lambda, I(V0)) from one I-V curve: |slope of the fit over FIT_RANGE_V| / |I(V0)|."""
    i = np.abs(current)
    slope, _ = linear_fit(v, i, *FIT_RANGE_V)
    i0 = float(np.interp(params.v0, v, i))
    return abs(slope) / i0, i0


@dataclass
class Characterisation:
    """Everything :func:`characterise_devices` measured; JSON-serialisable via
    :meth:`to_dict` / :meth:`save_json`.

    Attributes:
        corner, temp_c: model corner and temperature.
        params: the :class:`CircuitParams` used, as a dict.
        fit_range: V range of the lambda fits.
        lambdas: representative lambda [1/V] of ``nmos_lone``, ``pmos_lone``,
            ``nmos_synapse``, ``pmos_synapse`` (as wired), ``discharger_lone``,
            ``discharger_wired``.
        reversal: ``{"lone": {...}, "wired": {...}}`` with ``e_plus``,
            ``e_minus``, ``e_dis`` (normalised, with Table 2's V_th^circ).
        paper: Table-2 values for comparison.
        families: I_D-V_D families: name -> ``{"v", "vg", "current", "lambda",
            "i_v0"}`` (current magnitudes [A], shape (len(vg), len(v))).
        tables: I_D(V_G) at V_D = V0: name -> ``{"vg", "current"}``.
        sense: sensing inverter: ``vin``, ``v_sense`` (inverter output),
            ``v_nand``, ``i_sense``, ``i_nand`` at V_b^sense, ``v_switch_dc``,
            and ``family`` (per V_b^sense: ``vb``, ``v_switch``, ``i_peak``,
            ``i_static``, ``v_sense`` curves).
        firing: ``t`` [s from the start of the firing phase], ``v_mem`` (no
            input), ``t_fire_no_input`` (normalised; > 1: no spike in the
            window), ``v_switch_dynamic`` [V], ``start_delay_ns``.
        membrane: ``v`` [V], ``c_total`` [F], ``c_at_v0`` [F].
        selector: membrane step when a synapse's spike input turns off (selector turn-off charge),
            per weight transistor ``nmos`` / ``pmos``: ``{"vg", "dv"}`` with ``dv`` [V] on a node
            of C_m (:func:`_selector`); empty in files written before it was measured.
        runs: job name -> run directory.
    """

    corner: str
    temp_c: float
    params: dict[str, Any]
    fit_range: tuple[float, float]
    lambdas: dict[str, float]
    reversal: dict[str, dict[str, float]]
    paper: dict[str, float]
    families: dict[str, dict[str, Any]]
    tables: dict[str, dict[str, Any]]
    discharger: dict[str, Any]
    sense: dict[str, Any]
    firing: dict[str, Any]
    membrane: dict[str, Any]
    selector: dict[str, Any] = field(default_factory=dict)
    runs: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (numpy arrays as lists)."""
        return json_ready(asdict(self))

    def save_json(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` as JSON atomically (temp file + rename)."""
        path = Path(path)
        write_text_atomic(path, json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def load_json(cls, path: str | os.PathLike[str]) -> Characterisation:
        """Read a file written by :meth:`save_json`."""
        d = json.loads(Path(path).read_text())
        d["fit_range"] = tuple(d["fit_range"])
        return cls(**d)

    def id_vg_table(self, name: str) -> IdVgTable:
        """I_D(V_G) table at V_D = V0: ``nmos_synapse``, ``pmos_synapse``,
        ``nmos_lone`` or ``pmos_lone``."""
        t = self.tables[name]
        p = name.startswith("p")
        return IdVgTable(
            vg=np.asarray(t["vg"], float),
            current=np.asarray(t["current"], float),
            polarity="p" if p else "n",
            v_off=float(self.params["vdd"]) if p else 0.0,
        )

    def mapping(self, params: CircuitParams | None = None) -> WeightMapping:
        """Weight mapping through the as-wired synapse tables."""
        return WeightMapping(
            nmos=self.id_vg_table("nmos_synapse"),
            pmos=self.id_vg_table("pmos_synapse"),
            params=params or CircuitParams(**self.params),
        )

    def lambda_at_current(self, name: str, current: float | np.ndarray) -> np.ndarray:
        """lambda of family ``name`` interpolated (in log-current) at ``current`` [A];
        the ends of the family are held outside its range."""
        f = self.families[name]
        i0 = np.asarray(f["i_v0"], float)
        lam = np.asarray(f["lambda"], float)
        order = np.argsort(i0)
        return np.interp(np.log(np.asarray(current, float)), np.log(i0[order]), lam[order])

    def write_id_vg_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the I_D(V_G) tables at V_D = V0 used by the mapping as CSV (atomic)."""
        names = ["nmos_synapse", "pmos_synapse", "nmos_lone", "pmos_lone"]
        vg = np.asarray(self.tables[names[0]]["vg"], float)
        cols = [vg] + [np.asarray(self.tables[n]["current"], float) for n in names]
        lines = [
            f"# |I_D| [A] versus V_G [V] at V_D = V0 = {self.params['v0']} V, sky130 {self.corner}, {self.temp_c} C",
            "vg," + ",".join(names),
        ]
        lines += [",".join(f"{x:.9g}" for x in row) for row in zip(*cols, strict=True)]
        path = Path(path)
        write_text_atomic(path, "\n".join(lines) + "\n")
        return path


def _devices_job(params: CircuitParams, lib: Path) -> Job:
    body = render_template("tb_devices.spice", **template_values(params, N_SYNAPSES))
    deck = deck_header("Device characterisation (Figs. 17, 19, 20)", params, lib) + "\n" + body
    outputs = (
        "nmos_lone_family.dat",
        "pmos_lone_family.dat",
        "nmos_synapse_family.dat",
        "pmos_synapse_family.dat",
        "nmos_lone_table.dat",
        "pmos_lone_table.dat",
        "nmos_synapse_table.dat",
        "pmos_synapse_table.dat",
        "discharger_lone_family.dat",
        "discharger_wired_family.dat",
        "discharger_lone.dat",
        "discharger_wired.dat",
        "sense_family.dat",
        "sense.dat",
    )
    return Job("devices", deck, outputs)


def _fire_job(params: CircuitParams, lib: Path) -> Job:
    T, e = params.t_circ, params.edge
    values = template_values(params, N_SYNAPSES)
    values.update(
        t1m=fmt(T - e / 2),
        t1p=fmt(T + e / 2),
        t2m=fmt(2 * T - e / 2),
        t2p=fmt(2 * T + e / 2),
        t35m=fmt(3.5 * T - e / 2),
        t35p=fmt(3.5 * T + e / 2),
        t_stop=fmt(3.5 * T),
        t_step=fmt(params.t_step_max),
        i_pull=fmt(1.5 * params.unit_current),
        cap_a=membrane_lines("a", "mema", params, N_SYNAPSES),
        cap_b=membrane_lines("b", "memb", params, N_SYNAPSES),
    )
    body = render_template("tb_neuron_fire.spice", **values)
    deck = deck_header("Neuron firing phase (Fig. 20)", params, lib) + "\n" + body
    return Job("neuron_fire", deck, ("neuron_fire.dat",))


def _membrane_ac_job(params: CircuitParams, lib: Path) -> Job:
    """One copy of neuron + 5 idle synapses + membrane capacitor per DC level,
    each driven by its own AC source (so one AC analysis measures all)."""
    p = params
    values = template_values(p, N_SYNAPSES)
    lines = [
        deck_header("Membrane-node capacitance versus voltage (AC, 1 MHz)", p, lib),
        *supply_lines(p),
        "vbn bn 0 0",
        f"vbp bp 0 {fmt(p.vdd)}",
        "* accumulation phase: reset and phase off",
        "vrst rst 0 0",
        f"vrstb rstb 0 {fmt(p.vdd)}",
        "vph ph 0 0",
        f"vphb phb 0 {fmt(p.vdd)}",
    ]
    vecs = []
    for k, level in enumerate(MEMBRANE_AC_LEVELS):
        lines += [
            f"vm{k} m{k} 0 dc {fmt(level)} ac 1",
            f"xn{k} m{k} o{k} ob{k} ph phb rst rstb vbdis vbsense v0 vdd 0 neuron "
            f"wdis={values['w_dis']} wsn={values['w_sense_n']} lsb={values['l_sense_bias']}",
            membrane_lines(str(k), f"m{k}", p, N_SYNAPSES),
        ]
        lines += [f"xs{k}_{j} m{k} 0 vdd bn bp vdd 0 synapse" for j in range(N_SYNAPSES)]
        vecs.append(f"imag(i(vm{k}))")
    lines += [
        ".control",
        "set wr_singlescale",
        "set wr_vecnames",
        "ac lin 1 1e6 1e6",
        "wrdata membrane_ac.dat " + " ".join(vecs),
        "quit",
        ".endc",
        ".end",
        "",
    ]
    return Job("membrane_ac", "\n".join(lines), ("membrane_ac.dat",))


def _selector_job(params: CircuitParams, lib: Path) -> Job:
    """One synapse block per (driver, weight transistor, gate voltage), each on its own node of C_m
    (an ideal capacitor plus the block's drains) starting at V0.

    Its spike input is high from ~2T to 3T (T = SELECTOR_T): ``ideal`` nodes from PWL sources
    (edges ``params.edge``, rising with the neuron drivers' output); ``neuron`` nodes from the
    outputs of driver neurons (fan-out 5, as a hidden neuron in the 5-5-5 network), which an ideal
    current pulls below threshold in the accumulation phase so that they fire at once when their
    firing phase starts, and turn off when it ends, as in the network.
    """
    p = params
    T = SELECTOR_T
    ctrl = {
        "rst": ([(T, 0.0), (3 * T, p.vdd)], p.vdd),
        "rstb": ([(T, p.vdd), (3 * T, 0.0)], 0.0),
        "ph": ([(2 * T, p.vdd), (3 * T, 0.0)], 0.0),
        "phb": ([(2 * T, 0.0), (3 * T, p.vdd)], p.vdd),
    }
    lines = [
        deck_header("Selector turn-off step of a synapse block", p, lib),
        *supply_lines(p),
        *(f"v{name} {name} 0 {pwl(tr, init, p.edge)}" for name, (tr, init) in ctrl.items()),
        # the neuron drivers' outputs rise ~7 ns into the firing phase; the ideal ones with them
        f"vspk spk 0 {pwl([(2 * T + 7e-9, p.vdd), (3 * T, 0.0)], 0.0, p.edge)}",
        f"vspkb spkb 0 {pwl([(2 * T + 7e-9, 0.0), (3 * T, p.vdd)], p.vdd, p.edge)}",
    ]
    values = template_values(p, N_SYNAPSES)
    c_node = fmt(p.c_m - C_DEVICES_PER_SYNAPSE)
    vecs, ics = [], []
    n_blocks = 0
    for drv in SELECTOR_DRIVERS:
        for kind, grid in (("n", SELECTOR_NMOS_VG), ("p", SELECTOR_PMOS_VG)):
            for k, vg in enumerate(grid):
                node, tag = f"m{drv[0]}{kind}{k}", f"{drv[0]}{kind}{k}"
                if drv == "ideal":
                    spk, spkb = "spk", "spkb"
                else:
                    d = n_blocks // N_SYNAPSES
                    spk, spkb = f"dout{d}", f"doutb{d}"
                    if n_blocks % N_SYNAPSES == 0:
                        lines += [
                            f"xd{d} dm{d} dout{d} doutb{d} ph phb rst rstb vbdis vbsense v0 vdd 0 neuron "
                            f"wdis={values['w_dis']} wsn={values['w_sense_n']} lsb={values['l_sense_bias']}",
                            membrane_lines(f"d{d}", f"dm{d}", p, N_SYNAPSES),
                            f"ipull{d} dm{d} 0 {pwl([(T, 15 * p.unit_current), (2 * T, 0.0)], 0.0, p.edge)}",
                        ]
                    n_blocks += 1
                vn, vp = (vg, p.vdd) if kind == "n" else (0.0, vg)
                lines += [
                    f"vg{tag}n g{tag}n 0 {fmt(vn)}",
                    f"vg{tag}p g{tag}p 0 {fmt(vp)}",
                    f"xs{tag} {node} {spk} {spkb} g{tag}n g{tag}p vdd 0 synapse",
                    f"c{tag} {node} 0 {c_node}",
                ]
                vecs.append(f"v({node})")
                ics.append(f"v({node})={fmt(p.v0)}")
    lines += [
        wrap_line(".ic " + " ".join(ics)),
        ".control",
        "set wr_singlescale",
        "set wr_vecnames",
        f"tran {fmt(p.t_step_max)} {fmt(3 * T + SELECTOR_SETTLE + 20e-9)} 0 {fmt(p.t_step_max)} uic",
        wrap_line("wrdata selector.dat " + " ".join(vecs)),
        "quit",
        ".endc",
        ".end",
        "",
    ]
    return Job("selector", "\n".join(lines), ("selector.dat",))


def _selector(path: Path) -> dict:
    r"""Membrane step :math:`\Delta V` [V] caused by a synapse block's selectors turning off.

    When the spike input falls, the selector's gate couples its edge into the node between the
    selector and the weight transistor; the weight transistor refills that node from the membrane
    (NMOS: the membrane loses charge, :math:`\Delta V < 0`; PMOS: it gains). ΔV is the membrane at
    SELECTOR_SETTLE after the turn-off minus the membrane extrapolated with the on-current
    (slope over the 20 ns before the edge) to the turn-off time, i.e. the charge moved after the
    spike ends, divided by C_m. The RC-Spike model (§1.2) has no such term: every synapse whose
    input spiked in the accumulation phase adds it at the phase boundary.

    Returns:
        ``{driver: {"nmos": {"vg", "dv"}, "pmos": {"vg", "dv"}}}`` for each of SELECTOR_DRIVERS.
    """
    d = read_wrdata(path)
    t = d["time"]
    off = 3 * SELECTOR_T
    out: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for drv in SELECTOR_DRIVERS:
        out[drv] = {}
        for kind, grid in (("nmos", SELECTOR_NMOS_VG), ("pmos", SELECTOR_PMOS_VG)):
            dv = []
            for k in range(len(grid)):
                v = d[f"v(m{drv[0]}{kind[0]}{k})"]
                v_a, v_b = np.interp(off - 25e-9, t, v), np.interp(off - 5e-9, t, v)
                slope = (v_b - v_a) / 20e-9
                dv.append(float(np.interp(off + SELECTOR_SETTLE, t, v) - (v_b + slope * 5e-9)))
            out[drv][kind] = {"vg": np.asarray(grid, float), "dv": np.asarray(dv)}
    return out


def _family(path: Path, vg_spec: tuple[float, float, float], params: CircuitParams) -> dict:
    d = read_wrdata(path)
    names = list(d)
    v, cur = split_nested(d[names[0]], np.abs(d[names[1]]))
    vg = _grid(*vg_spec)
    if len(vg) != cur.shape[0]:
        raise ValueError(f"{path}: {cur.shape[0]} curves, expected {len(vg)}")
    fits = [lambda_fit(v, c, params) for c in cur]
    return {
        "v": v,
        "vg": vg,
        "current": cur,
        "lambda": np.array([f[0] for f in fits]),
        "i_v0": np.array([f[1] for f in fits]),
    }


def _table(path: Path) -> dict:
    d = read_wrdata(path)
    names = list(d)
    return {"vg": d[names[0]], "current": np.abs(d[names[1]])}


def _sense(dat: Path, fam: Path, params: CircuitParams) -> dict:
    half = params.vdd / 2

    def switch(vin: np.ndarray, v_nand: np.ndarray) -> float:
        c = crossings(vin, v_nand, half, rising=True)
        return float(c[0]) if c.size else float("nan")

    d = read_wrdata(dat)
    vin = d["v-sweep"]
    out = {
        "vb_sense": params.vb_sense,
        "vin": vin,
        "v_sense": d["v(sn)"],
        "v_nand": d["v(sout)"],
        "i_sense": -d["i(vddsi)"],
        "i_nand": -d["i(vddna)"],
        "v_switch_dc": switch(vin, d["v(sout)"]),
    }
    f = read_wrdata(fam)
    x, sn, so, isi, ina = split_nested(f["v-sweep"], f["v(sn)"], f["v(sout)"], -f["i(vddsi)"], -f["i(vddna)"])
    vb = _grid(*SENSE_FAMILY_VB)
    k0 = int(np.argmin(np.abs(x - params.v0)))
    out["family"] = {
        "vb": vb,
        "vin": x,
        "v_sense": sn,
        "v_switch": np.array([switch(x, s) for s in so]),
        "i_sense_peak": isi.max(axis=1),
        "i_nand_peak": ina.max(axis=1),
        "i_static": isi[:, k0] + ina[:, k0],
    }
    return out


def _discharger(res: JobResult, params: CircuitParams) -> dict:
    out: dict[str, Any] = {"vb_dis": params.vb_dis, "w_um": params.w_dis_um(N_SYNAPSES)}
    for kind in ("lone", "wired"):
        d = read_wrdata(res.outputs[f"discharger_{kind}.dat"])
        names = list(d)
        v, i = d[names[0]], np.abs(d[names[1]])
        lam, i0 = lambda_fit(v, i, params)
        slope, icpt = linear_fit(v, i, *FIT_RANGE_V)
        out[kind] = {"v": v, "current": i, "lambda": lam, "i_v0": i0, "fit": [slope, icpt]}
        out[f"family_{kind}"] = _family(res.outputs[f"discharger_{kind}_family.dat"], DISCHARGER_FAMILY_VB, params)
    return out


def _firing(path: Path, params: CircuitParams) -> dict:
    d = read_wrdata(path)
    t = d["time"]
    T = params.t_circ
    t_fire = 2 * T
    half = params.vdd / 2
    ta = first_crossing(t, d["v(outa)"], half, t_fire, 3.5 * T)
    tb = first_crossing(t, d["v(outb)"], half, t_fire, 3.5 * T)
    sel = (t >= T) & (t <= 3.5 * T)
    return {
        "t": t[sel] - t_fire,
        "v_mem": d["v(mema)"][sel],
        "v_mem_start_b": float(np.interp(t_fire, t, d["v(memb)"])),
        "t_fire_no_input": (ta - t_fire) / T,
        "v_switch_dynamic": float(np.interp(ta, t, d["v(mema)"])),
        "start_delay_ns": (tb - t_fire) * 1e9,
    }


def _membrane(path: Path, params: CircuitParams) -> dict:
    d = read_wrdata(path)
    names = list(d)[1:]
    c = np.array([abs(float(d[n][0])) / (2 * np.pi * 1e6) for n in names])
    v = np.array(MEMBRANE_AC_LEVELS)
    return {"v": v, "c_total": c, "c_at_v0": float(np.interp(params.v0, v[::-1], c[::-1]))}


def characterise_devices(
    out_dir: str | os.PathLike[str] | None = None,
    corner: str = "tt",
    *,
    params: CircuitParams | None = None,
    ngspice: str | None = None,
    lib: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    timeout: float = 600.0,
) -> Characterisation:
    """Characterise the devices of the IMC circuit with ngspice (paper App. G).

    Args:
        out_dir: directory for the run directories (``<out_dir>/spice/``) and the
            results ``characterisation.json`` and ``id_vg_v0.csv``; ``None``
            runs in the cache (``$PNN_SPICE_CACHE``, default
            ``~/.cache/pnnlib/spice``) and writes no result files.
        corner: sky130 model corner (overrides ``params.corner``).
        params: circuit parameters (default :class:`CircuitParams`).
        ngspice: ngspice executable (default ``$PNN_NGSPICE`` or ``ngspice``).
        lib: path of ``sky130.lib.spice`` (default: from the ``sky130`` package).
        workers: parallel ngspice processes (default: usable cores).
        timeout: per-deck limit [s].

    Returns:
        The :class:`Characterisation`.
    """
    params = replace(params or CircuitParams(), corner=corner)
    lib_path = sky130_lib_path(lib=lib)
    run_dir = Path(out_dir) / "spice" if out_dir is not None else DEFAULT_CACHE
    jobs = [
        _devices_job(params, lib_path),
        _fire_job(params, lib_path),
        _membrane_ac_job(params, lib_path),
        _selector_job(params, lib_path),
    ]
    dev, fire, ac, sel = run_jobs(jobs, run_dir, ngspice=ngspice, workers=workers, timeout=timeout)
    o = dev.outputs
    families = {
        "nmos_lone": _family(o["nmos_lone_family.dat"], NMOS_FAMILY_VG, params),
        "pmos_lone": _family(o["pmos_lone_family.dat"], PMOS_FAMILY_VG, params),
        "nmos_synapse": _family(o["nmos_synapse_family.dat"], NMOS_FAMILY_VG, params),
        "pmos_synapse": _family(o["pmos_synapse_family.dat"], PMOS_FAMILY_VG, params),
    }
    tables = {n: _table(o[f"{n}_table.dat"]) for n in families}
    discharger = _discharger(dev, params)
    lambdas = {n: float(np.median(f["lambda"])) for n, f in families.items()}
    lambdas["discharger_lone"] = float(discharger["lone"]["lambda"])
    lambdas["discharger_wired"] = float(discharger["wired"]["lambda"])
    vth = params.vth_circ
    reversal = {
        kind: {
            "e_plus": 1 / (vth * lambdas[f"nmos_{syn}"]),
            "e_minus": -1 / (vth * lambdas[f"pmos_{syn}"]),
            "e_dis": 1 / (vth * lambdas[f"discharger_{kind}"]),
        }
        for kind, syn in (("lone", "lone"), ("wired", "synapse"))
    }
    char = Characterisation(
        corner=params.corner,
        temp_c=params.temp_c,
        params=params.to_dict(),
        fit_range=FIT_RANGE_V,
        lambdas=lambdas,
        reversal=reversal,
        paper=paper_device_values(),
        families=families,
        tables=tables,
        discharger=discharger,
        sense=_sense(o["sense.dat"], o["sense_family.dat"], params),
        firing=_firing(fire.outputs["neuron_fire.dat"], params),
        membrane=_membrane(ac.outputs["membrane_ac.dat"], params),
        selector=_selector(sel.outputs["selector.dat"]),
        runs={r.name: str(r.run_dir) for r in (dev, fire, ac, sel)},
    )
    if out_dir is not None:
        char.save_json(Path(out_dir) / "characterisation.json")
        char.write_id_vg_csv(Path(out_dir) / "id_vg_v0.csv")
    return char
