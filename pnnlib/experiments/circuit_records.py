"""The devices and circuit stages' records (paper Figs. 6, 7, 15, 17, 19, 20; Table 2): values
keyed as in ``config/paper_values.yaml`` and the Fig. 7 claims, from the files those stages
write (``characterisation.json`` of :func:`pnnlib.circuit.characterise_devices`;
``validation.json`` / ``validation.npz`` of the circuit validation); and the record of our
corners / temperature / mismatch study (``conditions.json``, issue 17) with its claims
``ext_conditions.*``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from pnnlib.pipeline.claims import Estimate, bootstrap
from pnnlib.pipeline.record import Record, Scale

__all__ = ["PAPER_TEST_SAMPLES", "record_circuit", "record_conditions", "record_devices"]

PAPER_TEST_SAMPLES = 50
"""The paper compares model and SPICE on 50 Iris test samples (§6); fewer is a reduced scale."""


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def record_devices(rec: Record, c: Mapping[str, Any]) -> None:
    """λ, E±, E_dis, the sensing inverter and the set biases of a device characterisation.

    The paper's λ_N, λ_P, λ_dis match lone transistors; the values of the synapse *as wired* (what
    the bottom-up model uses) are given in the notes.
    """
    lam, rev, params = c.get("lambdas", {}), c.get("reversal", {}), c.get("params", {})
    wired, lone = rev.get("wired", {}), rev.get("lone", {})
    scale = Scale("n/a", f"sky130 {c.get('corner')}, {c.get('temp_c')} °C, ngspice DC/transient sweeps")

    def put(keys: tuple[str, ...], value: Any, note: str = "") -> None:
        if value is not None:
            for key in keys:
                rec.value(key, value, note=note, scale=scale)

    def f3(x: Any) -> str:
        return f"{x:.3g}" if _num(x) else "—"

    put(
        ("fig17.lambda_n", "table2.lambda_n"),
        lam.get("nmos_lone"),
        f"lone transistor; synapse as wired {f3(lam.get('nmos_synapse'))}",
    )
    put(
        ("fig17.lambda_p", "table2.lambda_p"),
        lam.get("pmos_lone"),
        f"lone transistor; synapse as wired {f3(lam.get('pmos_synapse'))}",
    )
    put(
        ("fig20.lambda_dis", "table2.lambda_dis"),
        lam.get("discharger_lone"),
        f"lone; as wired {f3(lam.get('discharger_wired'))}",
    )
    put(("table2.e_pos",), lone.get("e_plus"), f"lone; as wired {f3(wired.get('e_plus'))}")
    put(("table2.e_neg",), lone.get("e_minus"), f"lone; as wired {f3(wired.get('e_minus'))}")
    put(("table2.e_dis",), lone.get("e_dis"), f"lone; as wired {f3(wired.get('e_dis'))}")
    fit = c.get("fit_range")
    if fit:
        put(("fig17.fit_v_low",), fit[0], "chosen (the paper's text)")
        put(("fig17.fit_v_high",), fit[1], "chosen")
    sense, firing = c.get("sense", {}), c.get("firing", {})
    put(
        ("fig19.v_switch", "table2.v_switch"),
        sense.get("v_switch_dc"),
        f"DC transfer curve; during the firing ramp {f3(firing.get('v_switch_dynamic'))} V",
    )
    put(("fig19.v_b_sense", "table2.v_b_sense"), params.get("vb_sense"), "set (Table 2)")
    put(("fig20.v_b_dis", "table2.v_b_dis"), params.get("vb_dis"), "set (Table 2)")
    membrane = c.get("membrane", {})
    if _num(membrane.get("c_at_v0")):
        put(("table2.c_m",), 1e15 * membrane["c_at_v0"], "membrane node capacitance at V0 in the simulated neuron")
    for key, pkey, factor in (
        ("v_dd", "vdd", 1),
        ("v0", "v0", 1),
        ("t_circ", "t_circ", 1e6),
        ("v_th_circ", "vth_circ", 1),
    ):
        if _num(params.get(pkey)):
            put((f"table2.{key}",), params[pkey] * factor, "set")
    if _num(firing.get("t_fire_no_input")):
        rec.number("no-input firing time (T_circ; > 1 = no spike)", firing["t_fire_no_input"])


def _rmse_ratio(x: np.ndarray) -> float:
    """RMSE of the first half of the columns over the RMSE of the second half."""
    n = x.shape[1] // 2
    return float(np.sqrt(np.mean(x[:, :n] ** 2)) / max(np.sqrt(np.mean(x[:, n:] ** 2)), 1e-12))


def record_circuit(rec: Record, val: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Fig. 7 / Fig. 15 / Table 2 values of a circuit validation and the Fig. 7 claims: the
    top-down / bottom-up RMSE ratio with a bootstrap interval over the test samples (both
    mappings are simulated on the same samples, so the samples are resampled jointly)."""
    n_test = int(val["settings"]["n_test"])
    scale = Scale(
        "paper" if n_test >= PAPER_TEST_SAMPLES else "reduced",
        f"{n_test} Iris test samples (scale search on {val['settings']['search_samples']}), "
        "schematic-level sky130 + ngspice, no layout extraction",
    )
    for key, entry in (val.get("reproduced") or {}).items():
        entry = entry if isinstance(entry, Mapping) else {"value": entry}
        rec.value(
            key,
            entry.get("value", entry.get("mean")),
            std=entry.get("std"),
            n=entry.get("n"),
            note=entry.get("note", ""),
            scale=scale,
        )
    diffs = [arrays[f"{m}_t_model_2"] - arrays[f"{m}_t_spice_2"] for m in ("top_down", "bottom_up")]
    if len(diffs[0]) >= 2:
        est = bootstrap(np.concatenate(diffs, 1) * 1e3, _rmse_ratio, note="output layer, all 5 outputs")
        for key in ("fig7.pnn_closer_than_ann", "fig7.order_of_magnitude"):
            rec.claim(key, est, scale=scale)
    else:
        for key in ("fig7.pnn_closer_than_ann", "fig7.order_of_magnitude"):
            rec.claim(key, None, note="fewer than 2 test samples", scale=scale)
    for k, v in (val.get("stage_numbers") or {}).items():
        rec.number(k, v)


#: ``ext_conditions`` claim id -> the block of ``advantage_statistics()["conditions"]`` deciding it.
_CONDITION_CLAIMS = {
    "advantage_calibrated": "calibrated_class",
    "advantage_uncalibrated": "uncalibrated_class",
    "advantage_retrained": "retrained_bottom_up_class",
}


def record_conditions(rec: Record, res: Mapping[str, Any]) -> None:
    """The claims ``ext_conditions.*`` of the corners / temperature / mismatch study from its
    ``conditions.json`` (:mod:`pnnlib.experiments.circuit_validation.conditions`), decided on the
    RMSE over the 3 class outputs (the 2 spare outputs often agree exactly and flatter both):

    * per variant, the smallest ratio top-down / bottom-up over the conditions; its interval is
      [min of the conditions' lower bounds, min of their upper bounds] (bootstrap over the test
      samples at each condition), so it lies above 1 iff every condition's interval does, and below
      1 iff some condition's interval does;
    * over the mismatch instances, the fraction where bottom-up is closer, Clopper–Pearson.

    A statistic that is not finite (an RMSE of 0) is recorded as not computed, with the reason.
    """
    settings, stats = res.get("settings", {}), res["statistics"]
    n_test = int(settings.get("n_test", 0))
    conds = stats.get("conditions", {})
    mm = res.get("mismatch", {})
    names = ", ".join(r["condition"]["name"] for r in res.get("conditions", []))
    scale = Scale(
        "paper" if n_test >= PAPER_TEST_SAMPLES else "reduced",
        f"{n_test} Iris test samples at {len(res.get('conditions', []))} conditions ({names}); "
        f"{len(mm.get('instances', []))} mismatch instances on {mm.get('n_samples')} samples",
    )
    for claim, block in _CONDITION_CLAIMS.items():
        b = conds.get(block)
        key = f"ext_conditions.{claim}"
        if b is None:
            rec.claim(key, None, note="not run by this profile", scale=scale)
            continue
        per = b["ratios"].values()
        lo, hi = min(r["ci"][0] for r in per), min(r["ci"][1] for r in per)
        if not all(math.isfinite(x) for x in (b["ratio_min"], lo, hi)):
            rec.claim(key, None, note=f"ratio not finite at {b['ratio_min_condition']} (an RMSE of 0)", scale=scale)
            continue
        rec.claim(
            key,
            Estimate(
                b["ratio_min"],
                lo,
                hi,
                n_test,
                f"min over {b['n']} conditions (worst: "
                f"{b['ratio_min_condition']}) of bootstrap intervals over test samples",
            ),
            scale=scale,
        )
    m = stats.get("mismatch", {}).get("bottom_up_closer_class")
    if m is None:
        rec.claim("ext_conditions.advantage_mismatch", None, note="not run by this profile", scale=scale)
    else:
        n = int(stats["mismatch"]["n"])
        rec.claim(
            "ext_conditions.advantage_mismatch",
            Estimate(float(m["fraction"]), m["ci"][0], m["ci"][1], n, "Clopper-Pearson over instances"),
            scale=scale,
        )
    for k, v in (res.get("stage_numbers") or {}).items():
        rec.number(k, v)
