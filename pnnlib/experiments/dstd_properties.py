"""The DSTD stage's values and claims (paper Figs. 2 and 3, Table 1), computed from what
:mod:`pnnlib.bench.dstd_error` and :mod:`pnnlib.bench.dstd_efficiency` measure; the notebooks ``fig2_dstd_traces`` and
``fig3_dstd_properties`` call these and plot.

No training is involved, so the scale of these numbers is the benchmark's own set-up, stated in
each note (samples, input spikes, the machine for timings).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pnnlib.pipeline.claims import bootstrap, seeds_estimate
from pnnlib.pipeline.record import Record, Scale

__all__ = ["record_fig2", "record_fig3"]


def _case(cases: Sequence[Mapping[str, Any]], e: float, steps: int) -> Mapping[str, Any] | None:
    return next((c for c in cases if math.isclose(c["e"], e) and c["steps"] == steps), None)


def record_fig2(rec: Record, cases: Sequence[Mapping[str, Any]], n_in: int) -> None:
    """Fig. 2c–d claims from :func:`pnnlib.bench.trajectories` (one sample, the drawn neurons):
    the spread of the exact v(1) and the DSTD error, compared across |E| and M on the same neurons
    (paired bootstrap over neurons)."""
    scale = Scale(
        "n/a",
        f"one random layer: 1 sample × {n_in} uniform input spikes, "
        f"{len(cases[0]['v_exact'][-1]) if cases else 0} neurons",
    )

    def v1(c: Mapping[str, Any]) -> np.ndarray:
        return np.asarray(c["v_exact"][-1])

    def err(c: Mapping[str, Any]) -> np.ndarray:
        return np.abs(np.asarray(c["v_exact"][-1]) - np.asarray(c["v_dstd"][-1]))

    for key, a, b, fn, stat in (
        ("fig2.range_narrows", (1.0, 4), (10.0, 4), v1, lambda x: x[:, 0].std() - x[:, 1].std()),
        ("fig2.error_grows", (1.0, 4), (10.0, 4), err, lambda x: x[:, 0].mean() - x[:, 1].mean()),
        ("fig2.error_falls_with_m", (1.0, 10), (1.0, 3), err, lambda x: x[:, 0].mean() - x[:, 1].mean()),
    ):
        ca, cb = _case(cases, *a), _case(cases, *b)
        if ca is None or cb is None or len(v1(ca)) < 2:
            rec.claim(key, None, note="panels missing", scale=scale)
            continue
        rec.claim(key, bootstrap(np.stack([fn(ca), fn(cb)], 1), stat, note=f"|E|, M = {a} vs {b}"), scale=scale)
    rec.table(
        "fig2_panels",
        [
            {
                "|E|": c["e"],
                "M": c["steps"],
                "exact v(1) min": float(v1(c).min()),
                "exact v(1) max": float(v1(c).max()),
                "mean |v(1) − v̂(1)|": float(err(c).mean()),
            }
            for c in cases
        ],
        "Fig. 2c–d: exact v(1) range and the DSTD error per panel",
    )


def record_fig3(
    rec: Record,
    slopes: Mapping[str, Any],
    ratio_rows: Sequence[Mapping[str, Any]],
    table1: Sequence[Mapping[str, Any]],
    headline: Mapping[str, Any],
    setup: str,
) -> None:
    """Fig. 3 / Table 1 values and claims from the benchmark's results (:func:`error_slopes`,
    :func:`all_ratios`, :func:`complexity_table`, :func:`summary` of
    :mod:`pnnlib.bench.dstd_efficiency`); ``setup`` states the benchmark's size and machine."""
    scale = Scale("n/a", setup)
    for key, per, lo_key, what, fit in (
        ("fig3.error_slope_m", "slope_vs_m", "e_min", "|E|", f"M ≥ {slopes['m_min']}"),
        ("fig3.error_slope_e", "slope_vs_e", "m_min", "M", f"|E| ≥ {slopes['e_min']}"),
    ):
        samples = [v for k, v in slopes[per].items() if v is not None and float(k) >= float(slopes[lo_key])]
        if slopes.get(f"mean_{per}") is not None:
            rec.value(
                f"fig3.{per}", float(slopes[f"mean_{per}"]), scale=scale, note=f"mean least-squares slope over {fit}"
            )
        rec.claim(
            key,
            seeds_estimate(samples, note=f"one slope per {what} ≥ {slopes[lo_key]}") if samples else None,
            note="" if samples else "no asymptotic points",
            scale=scale,
        )
    for model in ("rcspike", "ttfs"):
        s = headline.get(model)
        if not s:
            continue
        where = f"N_in = {s.get('n_in')} input spikes"
        if s.get("time_ratio") is not None:
            rec.value(f"fig3.{model}_time_ratio", float(s["time_ratio"]), scale=scale, note=where)
        mem = next(
            (
                (k, lab)
                for k, lab in (
                    ("cuda_peak_ratio", "CUDA peak memory"),
                    ("peak_rss_ratio", "peak RSS"),
                    ("saved_ratio", "bytes saved for backward"),
                )
                if s.get(k) is not None
            ),
            None,
        )
        if mem:
            rec.value(f"fig3.{model}_memory_ratio", float(s[mem[0]]), scale=scale, note=f"{mem[1]}; {where}")
    exact = [r for r in ratio_rows if r["baseline"] == "exact" and r["method"] == "dstd"]
    for key, field in (("fig3.dstd_faster", "time_ratio"), ("fig3.dstd_less_memory", "peak_rss_ratio")):
        vals = [math.log10(r[field]) for r in exact if r.get(field)]
        rec.claim(
            key,
            seeds_estimate(vals, note=f"{len(vals)} (model, N_in) points") if vals else None,
            note="" if vals else "no exact/DSTD pair measured",
            scale=scale,
        )
    for row in table1:
        t_exp, m_exp = row.get("measured_time_exponent"), row.get("measured_saved_bytes_exponent")
        if t_exp is not None:
            rec.value(
                f"table1.{row['model']}_{row['method']}",
                f"time ∝ N_in^{t_exp:.2f}" + (f", memory ∝ N_in^{m_exp:.2f}" if m_exp is not None else ""),
                scale=scale,
                note=f"measured over N_in {row.get('fit_range_N_in')}; ours: {row.get('implementation')}",
            )
    rec.table(
        "fig3_ratios",
        [
            {
                k: r.get(k)
                for k in (
                    "model",
                    "n_in",
                    "baseline",
                    "method",
                    "time_ratio",
                    "cpu_time_ratio",
                    "peak_rss_ratio",
                    "saved_ratio",
                )
            }
            for r in ratio_rows
        ],
        "Fig. 3c–f: exact (or ODE solver) over DSTD, per input-spike count",
    )
