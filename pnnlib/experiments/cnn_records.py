r"""Values, claims and tables of the CNN stage (paper Figs. 5, 10, 11b, 12, 13; Table 3 CNN rows).

Each figure notebook loads its runs and derived data, calls one ``record_*`` function here with a
:class:`~pnnlib.pipeline.record.Record`, plots and saves; everything the report shows is computed
here, from run tables of :func:`pnnlib.experiments.runs.load_runs`:

* :func:`record_fig5` — CIFAR-10 VGG7 (Fig. 5c, d): the |E| of the best accuracy, the M from which
  accuracy is maximal, the interior peak and the random offset at |E| = 1;
* :func:`record_fig10` — TTFS CNN (Fig. 10a–e): convergence in M and E⁺, the ANN's degradation,
  the membrane potentials (:func:`fig10_traces`), offsets at small M, ANN vs scaled ANN vs PNN;
* :func:`record_sigma` — Figs. 11b, 12 and the Table 3 CNN rows: best |E| and accuracy per σ_spike
  and whether the best |E| moves up with the noise;
* :func:`record_fig13` — the accuracy versus test-time M of trained models (Appendix E).

Claims follow the statistics of ``config/paper_values.yaml`` (paired by seed where two conditions
are compared; :mod:`pnnlib.pipeline.claims`); every value and claim carries the
:class:`~pnnlib.pipeline.record.Scale` of the runs it rests on, and a run within 3 points of
chance never decides a claim. The paper's numbers are read from the record's ``paper_values``
(never from this code).

Slightly over ~400 lines: one ``record_*`` per figure and the helpers they share (pairing by
seed, the ANN baselines by seed, convergence); splitting per figure would duplicate the helpers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pnnlib.experiments.cnn import ttfs_traces
from pnnlib.experiments.runs import (
    acc_by_seed,
    e_sweep_rows,
    load_runs,
    runs_at_chance,
    scale_of,
    select,
    summarise,
)
from pnnlib.io import read_json
from pnnlib.pipeline.claims import at_chance, paired, seeds_estimate
from pnnlib.pipeline.record import Record, Scale

__all__ = [
    "BOUND_E",
    "NETWORKS",
    "PEAK_CLAIMS",
    "TEST_M_CLAIMS",
    "family_hashes",
    "fig10_traces",
    "first_converged",
    "load_family",
    "load_fig13",
    "record_fig10",
    "record_fig13",
    "record_fig5",
    "record_sigma",
]

NETWORKS = {"vgg7_fmnist": "fmnist_vgg7", "vgg7_cifar10": "cifar10_vgg7", "vgg7x2_cifar10": "cifar10_vgg7x2"}
"""σ-sweep family → its network key in ``paper_values.yaml`` (``table3.<network>.sigma<σ>.…``)."""

PEAK_CLAIMS = {
    "vgg7_fmnist": "fig11.vgg7_peak_moves_with_noise",
    "vgg7_cifar10": "fig12.vgg7_peak_moves_with_noise",
    "vgg7x2_cifar10": "fig12.vgg7x2_peak_moves_with_noise",
}
"""σ-sweep family → its claim "lower noise gives a smaller optimal |E|" (Figs. 11b, 12a, 12b)."""

TEST_M_CLAIMS = {
    "mlp": "fig13.mlp_test_m_saturates",
    "vgg7": "fig13.vgg7_test_m_saturates",
    "ttfs_cnn": "fig13.ttfs_test_m_saturates",
}
"""Model kind → its Fig. 13 claim (accuracy at the paper's test M versus the training M)."""

BOUND_E = (2.0, 31.6)
"""The E⁺ whose lowest hidden-layer potentials the Fig. 10a–c claim compares (paper: 2 vs 31.6)."""

MISSING = "runs missing at this scale"


def first_converged(xs: Sequence[float], accs: Sequence[float], tol: float) -> float:
    """The smallest x whose accuracy is within ``tol`` of the best (points sorted by x); NaN if empty.

    Used for "M at which accuracy converges" (Figs. 5c, 10d, 13) and "|E| from which accuracy has
    converged" (Fig. 10e).
    """
    if not len(xs):
        return math.nan
    order = np.argsort(xs)
    x, a = np.asarray(xs, float)[order], np.asarray(accs, float)[order]
    return float(x[np.argmax(a >= a.max() - tol)])


def family_hashes(paper_hashes: Mapping[str, str], family: str) -> dict[str, str]:
    """``{run id: config hash}`` of one family from the paper plan's CNN hashes (ids
    ``"<family>/<run id>"``, :func:`pnnlib.experiments.plans.paper_hashes`)."""
    prefix = f"{family}/"
    return {rid[len(prefix) :]: h for rid, h in paper_hashes.items() if rid.startswith(prefix)}


def load_family(runs_dir: str | Path, run_ids: Sequence[str]) -> pd.DataFrame:
    """The finished runs of ``runs_dir`` that belong to the plan (``run_ids``): a run directory
    left from an earlier plan of the same profile does not enter the figures."""
    runs = load_runs(runs_dir)
    return runs[runs["run_id"].isin(list(run_ids))].reset_index(drop=True)


def _claim(
    rec: Record,
    key: str,
    a: Mapping[int, float],
    b: Mapping[int, float] | None,
    sel: pd.DataFrame,
    scale: Scale,
    note: str = "",
) -> None:
    """Record ``key`` as the mean of ``a`` over seeds, or ``a − b`` paired by seed; ``None`` when
    the runs are missing; flagged when a run of ``sel`` is at chance."""
    if not a or (b is not None and not set(a) & set(b)):
        rec.claim(key, None, note=MISSING, scale=scale)
        return
    chance = runs_at_chance(sel)
    est = (
        seeds_estimate(list(a.values()), at_chance=chance, note=note)
        if b is None
        else paired(a, b, at_chance=chance, note=note)
    )
    rec.claim(key, est, scale=scale)


def _concat(*frames: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([f for f in frames if len(f)]) if any(len(f) for f in frames) else frames[0]


def _ann_by_seed(per_seed: Mapping[Any, Mapping[str, Any]], kind: str, e: float) -> dict[int, float]:
    """``{seed: accuracy %}`` of the ANN baselines' ``kind`` (``"ann"`` or ``"scaled"``) curve at |E| = ``e``."""
    return {int(seed): 100 * p["acc"] for seed, v in per_seed.items() for p in v[kind] if np.isclose(p["e"], e)}


def _converged_in(rec: Record, key: str, sel: pd.DataFrame, by: str, tol: float, scale: Scale, what: str) -> None:
    """Record the smallest ``by`` (M or |E|) within ``tol`` points of the best mean (``None``
    with a note when fewer than two values were run)."""
    s = summarise(sel, [by])
    if len(s) < 2:
        rec.value(key, None, note=f"needs two or more {what} (this profile: {len(s)})", scale=scale)
        return
    rec.value(
        key,
        first_converged(s[by], s["mean"], tol),
        scale=scale,
        at_chance=runs_at_chance(sel),
        note=f"smallest {what.rstrip('s')} within {tol:g} points of the best mean",
    )


# --------------------------------------------------------------------------- Fig. 5


def record_fig5(
    rec: Record,
    runs: pd.DataFrame,
    ann: Mapping[int, Mapping[str, Any]],
    settings: Mapping[str, Any],
    paper_hashes: Mapping[str, str],
    source: str = "",
) -> None:
    """Fig. 5 (RC-Spike VGG7 on CIFAR-10): values ``fig5.best_e``, ``fig5.m_max``,
    ``fig5.m_max_random``, claims ``fig5.interior_peak``, ``fig5.random_mitigates_e1``, tables
    ``fig5c_saturation`` and ``fig5d``.

    ``runs``: the family's finished runs; ``ann``: per training M, the ANN baselines
    (:func:`pnnlib.experiments.baselines.ann_baselines`); ``settings``: ``sigma_main``,
    ``m_sweep_e``, ``m_sweep``, ``offsets``, ``e_sweep_m``, ``ann_e``, ``saturation_tol``
    (:func:`pnnlib.experiments.cnn.figure_settings`); ``paper_hashes``: the paper plan's CNN hashes.
    """
    hashes = family_hashes(paper_hashes, "vgg7_cifar10")
    ann_e, tol = float(settings["ann_e"]), float(settings["saturation_tol"])
    main = select(runs, sigma=float(settings["sigma_main"]))

    def scale(sel: pd.DataFrame) -> Scale:
        return scale_of(sel, hashes, source)

    # (c) accuracy vs M: the smallest M within tol of the best, per |E| and offset
    saturation: dict[str, list[float]] = {}
    rows = []
    for e in settings["m_sweep_e"]:
        for off in settings["offsets"]:
            s = summarise(select(main, e_pos=float(e), offset=off), ["steps"])
            if len(s) >= 2:
                m_max = first_converged(s["steps"], s["mean"], tol)
                saturation.setdefault(off, []).append(m_max)
                rows.append({"|E|": float(e), "offset": off, "maximal from M": m_max, "M values": len(s)})
    rec.table("fig5c_saturation", rows, f"Fig. 5c: the smallest training M within {tol:g} points of the best M")
    for off, key in (("fixed", "fig5.m_max"), ("random", "fig5.m_max_random")):
        sel = select(main, offset=off)
        sel = sel[sel["e_pos"].isin([float(e) for e in settings["m_sweep_e"]])] if len(sel) else sel
        if off in saturation:
            rec.value(
                key,
                float(np.median(saturation[off])),
                scale=scale(sel),
                at_chance=runs_at_chance(sel),
                note=f"median over |E| of the smallest M within {tol:g} points of the best ({off} offset)",
            )
        else:
            rec.value(key, None, note=f"needs two or more M with the {off} offset", scale=scale(sel))
    # (c, d) the random offset at |E| = 1 and the smallest M of the M sweep
    m_small = min(int(m) for m in settings["m_sweep"])
    at1 = select(main, e_pos=1.0, steps=m_small)
    _claim(
        rec,
        "fig5.random_mitigates_e1",
        acc_by_seed(at1, offset="random"),
        acc_by_seed(at1, offset="fixed"),
        at1,
        scale(at1),
        f"|E| = 1, M = {m_small}",
    )
    # (d) accuracy vs |E| at the first M of the |E| sweep: the best |E| below the ANN's
    panel_rows = []
    for m in settings["e_sweep_m"]:
        panel_rows += e_sweep_rows(select(main, steps=int(m), offset="random"), int(m), ann.get(int(m), {}))
    rec.table("fig5d", panel_rows, "Fig. 5d: test accuracy vs |E| (mean over seeds), the ANN and the scaled ANN")
    m = int(settings["e_sweep_m"][0])
    at_m = select(main, steps=m, offset="random")
    below = at_m[at_m["e_pos"] < ann_e] if len(at_m) else at_m
    s = summarise(below, ["e_pos"])
    if s.empty:
        rec.value("fig5.best_e", None, note=MISSING, scale=scale(below))
        rec.claim("fig5.interior_peak", None, note=MISSING, scale=scale(at_m))
        return
    best = s.loc[s["mean"].idxmax()]
    best_e = float(best["e_pos"])
    best_runs, ann_runs = select(at_m, e_pos=best_e), select(at_m, e_pos=ann_e)
    rec.value(
        "fig5.best_e",
        best_e,
        n=int(best["n"]),
        scale=scale(below),
        at_chance=runs_at_chance(best_runs),
        note=f"M = {m}, random offset: the best mean of {len(s)} |E| values below {ann_e:g}",
    )
    _claim(
        rec,
        "fig5.interior_peak",
        acc_by_seed(at_m, e_pos=best_e),
        acc_by_seed(at_m, e_pos=ann_e),
        _concat(best_runs, ann_runs),
        scale(_concat(best_runs, ann_runs)),
        f"best |E| = {best_e:g}, M = {m}",
    )


# --------------------------------------------------------------------------- Fig. 10


def fig10_traces(
    runs: pd.DataFrame, settings: Mapping[str, Any], device: str = "cpu"
) -> dict[tuple[float, int], dict[str, Any]]:
    """The membrane traces (:func:`pnnlib.experiments.cnn.ttfs_traces`) Fig. 10 draws and its
    claim compares, by (E⁺, seed): the runs at M = ``trace_m`` (random offset, ``sigma_main``) at
    every E⁺ of ``trace_e`` for the lowest seed (panels a–c), and at the E⁺ of :data:`BOUND_E` for
    every seed (the claim). Deterministic: evaluation draws are seeded."""
    at_m = select(runs, sigma=float(settings["sigma_main"]), steps=int(settings["trace_m"]), offset="random")
    if at_m.empty:
        return {}
    seeds = sorted(int(s) for s in at_m["seed"].unique())
    wanted = {(float(e), seeds[0]) for e in settings["trace_e"]} | {(e, s) for e in BOUND_E for s in seeds}
    out = {}
    for e, seed in sorted(wanted):
        sel = select(at_m, e_pos=e, seed=seed)
        if len(sel):
            out[(e, seed)] = ttfs_traces(
                sel["path"].iloc[0], int(settings["trace_sample"]), int(settings["trace_points"]), device=device
            )
    return out


def record_fig10(
    rec: Record,
    runs: pd.DataFrame,
    ann: Mapping[int, Mapping[str, Any]],
    traces: Mapping[tuple[float, int], Mapping[str, Any]],
    settings: Mapping[str, Any],
    paper_hashes: Mapping[str, str],
    source: str = "",
) -> None:
    """Fig. 10 (TTFS CNN on Fashion-MNIST): values ``fig10.m_converge_e4/e2``,
    ``fig10.e_converge_m30/m10``, ``fig10.ann_degrade_below``; claims
    ``fig10.small_e_bounds_potential``, ``fig10.random_better_small_m``,
    ``fig10.scaled_ann_beats_ann``, ``fig10.pnn_beats_scaled_ann``; tables ``fig10_potentials``
    and ``fig10e``.

    ``traces``: :func:`fig10_traces`; ``settings``: ``sigma_main``, ``offsets``, ``m_sweep_e``,
    ``m_sweep``, ``e_sweep_m``, ``ann_e``, ``saturation_tol``, ``degrade_tol``, ``trace_m``; the rest as in
    :func:`record_fig5`.
    """
    hashes = family_hashes(paper_hashes, "ttfs_cnn_fmnist")
    ann_e, tol = float(settings["ann_e"]), float(settings["saturation_tol"])
    main = select(runs, sigma=float(settings["sigma_main"]))

    def scale(sel: pd.DataFrame) -> Scale:
        return scale_of(sel, hashes, source)

    # (a-c) the lowest potential of the last hidden layer, E⁺ = 2 vs 31.6, per seed
    lowest = {key: float(tr["layers"][0]["v"].min()) for key, tr in traces.items()}
    rec.table(
        "fig10_potentials",
        [
            {
                "E⁺": e,
                "seed": seed,
                "lowest potential, last hidden layer": v,
                "lowest potential, output layer": float(traces[(e, seed)]["layers"][1]["v"].min()),
            }
            for (e, seed), v in sorted(lowest.items())
        ],
        f"Fig. 10a–c: the lowest membrane potential for test image {settings['trace_sample']} "
        f"(M = {settings['trace_m']})",
    )
    lo_e, hi_e = BOUND_E
    bound = select(main, steps=int(settings["trace_m"]), offset="random")
    bound = _concat(select(bound, e_pos=lo_e), select(bound, e_pos=hi_e))
    _claim(
        rec,
        "fig10.small_e_bounds_potential",
        {s: v for (e, s), v in lowest.items() if e == lo_e},
        {s: v for (e, s), v in lowest.items() if e == hi_e},
        bound,
        scale(bound),
        f"test image {settings['trace_sample']}, M = {settings['trace_m']}",
    )
    # (d) accuracy vs M: convergence and the offsets at the smallest M
    for e in (4.0, 2.0):
        sel = select(main, e_pos=e, offset="random")
        if e in [float(x) for x in settings["m_sweep_e"]]:
            _converged_in(rec, f"fig10.m_converge_e{e:g}", sel, "steps", tol, scale(sel), "M values")
    m_small = min(int(m) for m in settings["m_sweep"])
    at4 = select(main, e_pos=4.0, steps=m_small)
    _claim(
        rec,
        "fig10.random_better_small_m",
        acc_by_seed(at4, offset="random"),
        acc_by_seed(at4, offset="fixed"),
        at4,
        scale(at4),
        f"E⁺ = 4, M = {m_small}",
    )
    # (e) accuracy vs E⁺: convergence, the ANN's degradation, ANN vs scaled ANN vs PNN
    rows = []
    for m in settings["e_sweep_m"]:
        at_m = select(main, steps=int(m), offset="random")
        rows += e_sweep_rows(at_m, int(m), ann.get(int(m), {}))
        if int(m) in (30, 10):
            _converged_in(rec, f"fig10.e_converge_m{int(m)}", at_m, "e_pos", tol, scale(at_m), "E⁺ values")
    rec.table("fig10e", rows, "Fig. 10e: test accuracy vs E⁺ (mean over seeds), the ANN and the scaled ANN")
    m = int(settings["e_sweep_m"][0])
    at_m = select(main, steps=m, offset="random")
    ann_runs = select(at_m, e_pos=ann_e)
    base = ann.get(m, {})
    own = summarise(ann_runs, ["e_pos"])
    if not base.get("ann") or own.empty:
        rec.value("fig10.ann_degrade_below", None, note=MISSING, scale=scale(ann_runs))
        for key in ("fig10.scaled_ann_beats_ann", "fig10.pnn_beats_scaled_ann"):
            rec.claim(key, None, note=MISSING, scale=scale(ann_runs))
        return
    xs = [p["e"] for p in base["ann"]] + [ann_e]
    accs = [100 * p["acc"] for p in base["ann"]] + [float(own["mean"].iloc[0])]
    rec.value(
        "fig10.ann_degrade_below",
        first_converged(xs, accs, float(settings["degrade_tol"])),
        scale=scale(ann_runs),
        at_chance=runs_at_chance(ann_runs),
        note=f"smallest E⁺ at which the ANN (M = {m}) is within {settings['degrade_tol']:g} points of its best",
    )
    e_min = min(xs)
    per_seed = base.get("per_seed", {})
    scaled, plain = _ann_by_seed(per_seed, "scaled", e_min), _ann_by_seed(per_seed, "ann", e_min)
    _claim(
        rec,
        "fig10.scaled_ann_beats_ann",
        {s: scaled[s] - plain[s] for s in set(scaled) & set(plain)},
        None,
        ann_runs,
        scale(ann_runs),
        f"E⁺ = {e_min:g}, M = {m}",
    )
    pnn_runs = select(at_m, e_pos=e_min)
    _claim(
        rec,
        "fig10.pnn_beats_scaled_ann",
        acc_by_seed(pnn_runs),
        scaled,
        _concat(pnn_runs, ann_runs),
        scale(_concat(pnn_runs, ann_runs)),
        f"E⁺ = {e_min:g}, M = {m}",
    )


# --------------------------------------------------------------------------- Figs. 11b, 12, Table 3


def _best_e_by_seed(sweep: pd.DataFrame) -> tuple[dict[int, float], pd.DataFrame]:
    """Per seed, the |E| of the best accuracy of a sweep (ties: the smaller |E|), and those runs."""
    best: dict[int, float] = {}
    rows = []
    for seed, g in sweep.sort_values("e_pos").groupby("seed"):
        r = g.loc[g["acc"].idxmax()]
        best[int(seed)] = float(r["e_pos"])
        rows.append(r)
    return best, pd.DataFrame(rows)


def record_sigma(
    rec: Record,
    runs: Mapping[str, pd.DataFrame],
    settings: Mapping[str, Any],
    paper_hashes: Mapping[str, str],
    source: str = "",
) -> list[dict[str, Any]]:
    """Figs. 11b, 12 and Table 3 (CNN rows) from the σ_spike × |E| sweeps at M = ``sigma_m``
    (random offset) of ``runs`` (``{family: runs}``, the families of :data:`NETWORKS`).

    Values ``table3.<network>.sigma<σ>.best_e`` / ``.accuracy`` (the |E| of the best mean
    accuracy over seeds, and that mean ± std), claims of :data:`PEAK_CLAIMS` (per seed: log10 of
    the best |E| at the largest minus at the smallest σ_spike; a best run at chance flags it),
    table ``table3_cnn`` with the paper's entries beside ours. Returns the table's rows.
    """
    m = int(settings["sigma_m"])
    sigmas = [float(s) for s in settings["sigmas"]]
    paper = {v["key"]: v["paper"] for v in rec.paper_values["items"]["table3"]["values"]}
    rows = []
    for family in [f for f in NETWORKS if f in runs]:  # the paper's row order
        df, network = runs[family], NETWORKS[family]
        sweep = select(df, steps=m, offset="random")
        hashes = family_hashes(paper_hashes, family)
        for sigma in sigmas:
            at_sig = select(sweep, sigma=sigma)
            key = f"table3.{network}.sigma{sigma:g}"
            row: dict[str, Any] = {"network": network, "σ_spike": sigma}
            s = summarise(at_sig, ["e_pos"])
            if len(s):
                best = s.loc[s["mean"].idxmax()]
                sel = select(at_sig, e_pos=float(best["e_pos"]))
                sc = scale_of(sel, hashes, source)
                chance = runs_at_chance(sel)
                rec.value(
                    f"{key}.best_e",
                    float(best["e_pos"]),
                    note=f"{len(s)} |E| values",
                    scale=scale_of(at_sig, hashes, source),
                    at_chance=chance,
                )
                rec.value(
                    f"{key}.accuracy",
                    float(best["mean"]),
                    std=float(best["std"]),
                    n=int(best["n"]),
                    scale=sc,
                    at_chance=chance,
                )
                row.update(
                    {
                        "best |E|": float(best["e_pos"]),
                        "accuracy (%)": float(best["mean"]),
                        "std": float(best["std"]),
                        "seeds": int(best["n"]),
                        "|E| values": len(s),
                        "at chance": chance,
                        "scale": sc.kind,
                    }
                )
            row.update(
                {
                    "paper best |E|": paper.get(f"{network}.sigma{sigma:g}.best_e"),
                    "paper accuracy (%)": paper.get(f"{network}.sigma{sigma:g}.accuracy"),
                }
            )
            rows.append(row)
        lo, hi = select(sweep, sigma=min(sigmas)), select(sweep, sigma=max(sigmas))
        if min(sigmas) == max(sigmas):
            rec.claim(PEAK_CLAIMS[family], None, note="one σ_spike in this profile", scale=scale_of(lo, hashes, source))
            continue
        best_lo, runs_lo = _best_e_by_seed(lo) if len(lo) else ({}, lo)
        best_hi, runs_hi = _best_e_by_seed(hi) if len(hi) else ({}, hi)
        diff = {s: math.log10(best_hi[s]) - math.log10(best_lo[s]) for s in set(best_lo) & set(best_hi)}
        both = _concat(lo, hi)
        _claim(
            rec,
            PEAK_CLAIMS[family],
            diff,
            None,
            _concat(runs_lo, runs_hi),
            scale_of(both, hashes, source),
            f"σ_spike {max(sigmas):g} vs {min(sigmas):g}, M = {m}",
        )
    rec.table(
        "table3_cnn",
        rows,
        f"Table 3, CNN rows (RC-Spike, M = {m}, random offset): the |E| of the best mean "
        "test accuracy over seeds, and that mean ± std",
    )
    return rows


# --------------------------------------------------------------------------- Fig. 13


def load_fig13(models: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The Fig. 13 models with their runs and test-time-M curves: each of ``models`` (``{"name",
    "stage", "run", "paper_m", "run_dir", "curve": file of python -m pnnlib.experiments.cnn
    test-m}``, :func:`pnnlib.experiments.cnn.fig13_models`) with ``runs`` (its run table) and the
    curve file's result (``model``, ``train_m``, ``n_classes``, ``curve``: the points) added."""
    return [{**m, "runs": load_runs(m["run_dir"]), **read_json(m["curve"])["result"]} for m in models]


def record_fig13(
    rec: Record,
    models: Sequence[Mapping[str, Any]],
    settings: Mapping[str, Any],
    paper_hashes: Mapping[str, Mapping[str, str]],
) -> None:
    """Fig. 13 (accuracy versus test-time M): values ``fig13.test_m_rcspike`` / ``test_m_ttfs``
    (per model, the smallest test M within ``saturation_tol`` points of the best) and
    ``fig13.n_evals``; claims of :data:`TEST_M_CLAIMS` (the accuracy at the paper's test M minus at
    the training M, Student t over the evaluations of the one run); table ``fig13``.

    ``models``: :func:`load_fig13`; ``settings``: ``n_eval``, ``saturation_tol``;
    ``paper_hashes``: the paper plan's hashes by stage (``{"mlp": …, "cnn": …}``).
    """
    tol = float(settings["saturation_tol"])
    rows, all_runs, scales = [], [], []

    def scale_for(model: Mapping[str, Any]) -> Scale:
        stage = model["stage"]
        hashes = paper_hashes.get("mlp", {}) if stage == "mlp" else family_hashes(paper_hashes.get("cnn", {}), stage)
        return scale_of(model["runs"], hashes)

    for model in models:
        curve = sorted(model["curve"], key=lambda r: r["m"])
        by_m = {r["m"]: r for r in curve}
        sc, chance = scale_for(model), runs_at_chance(model["runs"])
        all_runs.append(model["runs"])
        scales.append(sc)
        rows += [
            {
                "model": model["name"],
                "test M": r["m"],
                "accuracy (%)": 100 * r["acc"],
                "std": 100 * r["acc_std"],
                "evaluations": len(r["accs"]),
            }
            for r in curve
        ]
        kind = "test_m_ttfs" if model["model"] == "ttfs_cnn" else "test_m_rcspike"
        rec.value(
            f"fig13.{kind}",
            first_converged([r["m"] for r in curve], [100 * r["acc"] for r in curve], tol),
            scale=sc,
            at_chance=chance,
            note=f"{model['name']}: smallest test M within {tol:g} points of the best",
        )
        train, test = by_m.get(model["train_m"]), by_m.get(model["paper_m"])
        key = TEST_M_CLAIMS[model["model"]]
        if train is None or test is None:
            rec.claim(key, None, note="training or paper test M not evaluated", scale=sc)
            continue
        chance = chance or any(at_chance(r["acc"], int(model["n_classes"])) for r in (train, test))
        est = seeds_estimate(
            [100 * (a - b) for a, b in zip(test["accs"], train["accs"])],
            at_chance=chance,
            note=f"{model['name']}: M = {model['paper_m']} vs {model['train_m']}",
        )
        rec.claim(key, dataclasses.replace(est, method=est.method.replace("seeds", "evaluations of one run")), scale=sc)
    combined = _concat(*all_runs) if all_runs else pd.DataFrame(columns=["config", "n_train"])
    rec.value(
        "fig13.n_evals",
        int(settings["n_eval"]),
        scale=Scale.of_runs(
            list(combined["config"]),
            [int(n or 0) for n in combined["n_train"]],
            bool(scales) and all(sc.kind == "paper" for sc in scales),
        ),
    )
    rec.table("fig13", rows, "Fig. 13: test accuracy (mean ± std over evaluations) versus the test-time M")
