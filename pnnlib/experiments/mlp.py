r"""The Fashion-MNIST MLP experiments (paper Fig. 4c–f, Fig. 11a, Fig. 14 left, Table 3 MLP rows):
the grids of training runs, with every size a parameter (so that the ``smoke``, ``quick`` and
``paper`` profiles run the same code):

* Fig. 4c: learning curves at |E| ∈ {4, 1}, M ∈ {3, 15}, random vs fixed offset, several seeds;
* Fig. 4e: accuracy versus M for |E| ∈ {4, 2, 1}, both offset modes;
* Fig. 4f: accuracy versus |E| on a log grid 1 … 100 at M = 15 and M = 3 (random offset);
  the |E| = 100 runs are the "ANN" of the paper;
* Fig. 11a / Table 3: σ_spike ∈ {0, 0.005, 0.01, 0.02, 0.04} × the |E| grid, M = 10, random.

The paper's sweep values of |E| are not given (Table 3 lists 1.1 … 30.7, irregular, perhaps
random log-uniform draws, paper-spec §8 item 11); we use a log-spaced grid :data:`PAPER_E_GRID`
and a GP regression band as the paper does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pnnlib.experiments.runs import acc_by_seed, e_sweep_rows, runs_at_chance, scale_of, select, summarise
from pnnlib.pipeline.claims import paired, seeds_estimate
from pnnlib.pipeline.profiles import expand_grid
from pnnlib.pipeline.record import Record, Scale
from pnnlib.train import TrainConfig

__all__ = [
    "ID_KEYS",
    "ITEM_GRIDS",
    "PAPER_E_GRID",
    "PAPER_SIGMAS",
    "ann_plan",
    "check_section",
    "figure_settings",
    "grid_runs",
    "mlp_grids",
    "mlp_plan",
    "plan",
    "record_stage",
]

PAPER_E_GRID: tuple[float, ...] = tuple(float(e) for e in np.round(np.geomspace(1.0, 100.0, 15), 2))
"""|E| sweep: 15 log-spaced values from 1 to 100 (1, 1.39, 1.93, …, 71.97, 100)."""

PAPER_SIGMAS: tuple[float, ...] = (0.0, 0.005, 0.01, 0.02, 0.04)
"""σ_spike values of Appendix D (Fig. 11, Table 3)."""

ID_KEYS = ("e_pos", "steps", "offset", "sigma", "seed")
"""Config keys that vary across the MLP runs, in run-id order (``e4-m15-off_random-sig0.01-seed0``)."""


def mlp_grids(
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    sigma: float = 0.01,
    curve_e: Sequence[float] = (4.0, 1.0),
    curve_m: Sequence[int] = (3, 15),
    offsets: Sequence[str] = ("random", "fixed"),
    m_sweep_e: Sequence[float] = (4.0, 2.0, 1.0),
    m_sweep: Sequence[int] = (2, 3, 5, 10, 15, 20, 30),
    e_sweep: Sequence[float] = PAPER_E_GRID,
    e_sweep_m: Sequence[int] = (15, 3),
    sigmas: Sequence[float] = PAPER_SIGMAS,
    sigma_m: int = 10,
    sigma_seeds: Sequence[int] | None = None,
) -> dict[str, dict[str, list]]:
    """The named grids of Fig. 4c, 4e, 4f and 11a (values of :data:`ID_KEYS` per grid).

    Defaults are the paper's settings; the |E| = 100 point of ``e_sweep`` is the ANN baseline.
    ``sigma_seeds`` (default: ``seeds``) are the seeds of the σ_spike sweep alone. An empty
    sequence drops that grid.
    """
    seeds = list(seeds)
    sigma_seeds = seeds if sigma_seeds is None else list(sigma_seeds)
    grids = {
        "fig4c": dict(e_pos=list(curve_e), steps=list(curve_m), offset=list(offsets), sigma=[sigma], seed=seeds),
        "fig4e": dict(e_pos=list(m_sweep_e), steps=list(m_sweep), offset=list(offsets), sigma=[sigma], seed=seeds),
        "fig4f": dict(e_pos=list(e_sweep), steps=list(e_sweep_m), offset=["random"], sigma=[sigma], seed=seeds),
        "fig11a": dict(e_pos=list(e_sweep), steps=[sigma_m], offset=["random"], sigma=list(sigmas), seed=sigma_seeds),
    }
    return {name: g for name, g in grids.items() if all(len(v) for v in g.values())}


def mlp_plan(base: Mapping[str, Any] | None = None, **grid_sizes: Any) -> dict[str, TrainConfig]:
    """``{run_id: TrainConfig}`` for the union of :func:`mlp_grids` (shared runs appear once).

    ``base`` holds the fixed keys (e.g. ``train_subset``, ``epochs`` of a profile; defaults: the
    paper's MLP of :class:`~pnnlib.train.TrainConfig`); ``grid_sizes`` go to :func:`mlp_grids`.
    """
    runs = expand_grid(mlp_grids(**grid_sizes), fixed=dict(base or {}), id_keys=ID_KEYS)
    return {rid: TrainConfig.from_dict(params) for rid, params in runs.items()}


# --------------------------------------------------------------------------- the stage's plan

ITEM_GRIDS: dict[str, tuple[str, ...]] = {
    "fig4": ("fig4c", "fig4e", "fig4f"),
    "fig11": ("fig11a",),
    "fig14": ("fig4f",),
    "table3": ("fig11a",),
}
"""Paper figure/table → the grids of :func:`mlp_grids` whose runs it rests on (the report counts
how many of the ``paper`` profile's runs are at hand)."""


def check_section(section: Mapping[str, Any]) -> None:
    """Cross-key checks of a profile's ``mlp`` section (raise
    :class:`~pnnlib.pipeline.profiles.ProfileError` naming the keys)."""
    from pnnlib.pipeline.profiles import ProfileError

    grid, fig = section["grid"], section["figures"]
    ann_e = fig.get("ann_e", 100.0)
    if ann_e not in grid["e_sweep"] or not any(e < ann_e for e in grid["e_sweep"]):
        raise ProfileError("mlp.figures.ann_e must be in mlp.grid.e_sweep, with smaller |E| to test it at")
    if not set(fig.get("ann_seeds", [0])) <= set(grid["seeds"]):
        raise ProfileError("mlp.figures.ann_seeds must be a subset of mlp.grid.seeds")


def plan(section: Mapping[str, Any]) -> dict[str, TrainConfig]:
    """``{run_id: TrainConfig}`` of a profile's ``mlp`` section (``train``: fixed settings,
    ``grid``: arguments of :func:`mlp_grids`), after :func:`check_section`. The one place the
    MLP runs are planned: the rules, ``bench paper-cost`` and the report use it."""
    check_section(section)
    return mlp_plan(base=section["train"], **section["grid"])


def grid_runs(section: Mapping[str, Any], grids: Sequence[str]) -> set[str]:
    """The run ids of the named grids of a profile's ``mlp`` section."""
    named = mlp_grids(**section["grid"])
    return set(expand_grid({k: v for k, v in named.items() if k in grids}, fixed=section["train"], id_keys=ID_KEYS))


# --------------------------------------------------------------------------- values and claims


def _hidden_early_share(path: str, t_early: float = 0.1) -> float:
    """Share (%) of the hidden layers' spikes before ``t_early`` in a run's ``spike_hist.npz``."""
    h = np.load(Path(path) / "spike_hist.npz")
    layers = sorted(int(k[5:]) for k in h.files if k.startswith("layer"))[:-1]
    edges = h["edges"]
    early = total = 0.0
    for k in layers:
        counts = h[f"layer{k}"]
        early += counts[edges[1:] <= t_early + 1e-9].sum() + float(h[f"below{k}"])
        total += counts.sum() + float(h[f"below{k}"]) + float(h[f"above{k}"])
    return 100.0 * early / total if total else float("nan")


def _ann_curves(per_seed: Mapping[Any, Mapping[str, Any]]):
    """``curve(kind, e) -> {seed: accuracy %}`` of the ANN baselines' per-seed curves."""

    def curve(kind: str, e: float) -> dict[int, float]:
        return {int(seed): 100 * p["acc"] for seed, v in per_seed.items() for p in v[kind] if np.isclose(p["e"], e)}

    return curve


def record_stage(
    rec: Record,
    runs: pd.DataFrame,
    ann: Mapping[int, Mapping[str, Any]],
    settings: Mapping[str, Any],
    paper_hashes: Mapping[str, str],
    source: str = "",
) -> dict[str, Any]:
    """Fill ``rec`` with the MLP stage's values, claim estimates and tables.

    ``runs``: the finished runs (:func:`pnnlib.experiments.runs.load_runs`); ``ann``: per training
    M, the ANN baselines of :func:`pnnlib.experiments.baselines.ann_baselines`; ``settings``: the
    figure parameters (``sigma_main``, ``curve_m``, ``m_sweep_e``, ``e_sweep_m``, ``sigmas``,
    ``sigma_m``, ``ann_e``, ``saturation_tol``, ``alphas``); ``paper_hashes``: the paper profile's
    ``{run_id: config hash}`` (decides which numbers are at paper scale). Returns the Table 3 rows.
    """
    sig = float(settings["sigma_main"])
    ann_e = float(settings["ann_e"])
    main = select(runs, sigma=sig) if len(runs) else runs

    def scale(sel: pd.DataFrame) -> Scale:
        return scale_of(sel, paper_hashes, source)

    def claim(key: str, a: dict[int, float], b: dict[int, float] | None, sel: pd.DataFrame, note: str = "") -> None:
        if not a or (b is not None and not set(a) & set(b)):
            rec.claim(key, None, note="runs missing at this scale", scale=scale(sel))
            return
        chance = runs_at_chance(sel)
        est = (
            seeds_estimate(list(a.values()), at_chance=chance, note=note)
            if b is None
            else paired(a, b, at_chance=chance, note=note)
        )
        rec.claim(key, est, scale=scale(sel))

    # Fig. 4c/e: offsets and M at |E| = 1
    m_small, m_large = min(settings["curve_m"]), max(settings["curve_m"])
    for key, a, b in (
        ("fig4.fixed_offset_m3_drops", dict(steps=m_small, offset="fixed"), dict(steps=m_large, offset="fixed")),
        (
            "fig4.random_offset_m3_matches_m15",
            dict(steps=m_small, offset="random"),
            dict(steps=m_large, offset="random"),
        ),
        ("fig4.random_beats_fixed_m3", dict(steps=m_small, offset="random"), dict(steps=m_small, offset="fixed")),
    ):
        if a == b:
            rec.claim(key, None, note="needs two values of M (grid.curve_m)", scale=scale(main))
            continue
        sel = pd.concat([select(main, e_pos=1.0, **a), select(main, e_pos=1.0, **b)]) if len(main) else main
        claim(
            key,
            acc_by_seed(main, e_pos=1.0, **a),
            acc_by_seed(main, e_pos=1.0, **b),
            sel,
            f"M = {m_small} vs {m_large}",
        )
    # Fig. 4d: early spikes at large vs small |E|
    m_hist = int(settings["hist_m"])
    big, small = (
        select(main, e_pos=ann_e, steps=m_hist, offset="random"),
        select(main, e_pos=1.0, steps=m_hist, offset="random"),
    )
    claim(
        "fig4.more_early_spikes_large_e",
        {int(r.seed): _hidden_early_share(r.path) for r in big.itertuples()},
        {int(r.seed): _hidden_early_share(r.path) for r in small.itertuples()},
        pd.concat([big, small]),
    )
    # Fig. 4e: where accuracy saturates in M (fixed offset; the paper's "M ≈ 15")
    saturation = {}
    for e in settings["m_sweep_e"]:
        for off in ("random", "fixed"):
            s = summarise(select(main, e_pos=float(e), offset=off), ["steps"]).sort_values("steps")
            if len(s) >= 2:
                ok = s[s["mean"] >= s["mean"].max() - float(settings["saturation_tol"])]
                saturation[(float(e), off)] = int(ok["steps"].iloc[0])
    fixed = [v for (e, off), v in saturation.items() if off == "fixed"]
    if fixed:
        rec.value(
            "fig4.m_saturation",
            float(np.median(fixed)),
            scale=scale(select(main, offset="fixed")),
            note=f"median over |E| of the smallest M within {settings['saturation_tol']} points of the best, "
            "fixed offset; random offset: "
            + ", ".join(f"|E| = {e:g}: M = {v}" for (e, off), v in saturation.items() if off == "random"),
        )
    rec.table(
        "fig4e_saturation",
        [{"|E|": e, "offset": off, "saturates at M": v} for (e, off), v in saturation.items()],
        "Fig. 4e: the smallest M within the saturation tolerance of the best M",
    )
    # Fig. 4f: accuracy vs |E| at the M of the panel; ANN and scaled ANN
    rows = []
    for m in settings["e_sweep_m"]:
        at_m = select(main, steps=int(m), offset="random")
        s = summarise(at_m, ["e_pos"])
        base = ann.get(int(m), {})
        rows += e_sweep_rows(at_m, int(m), base)
        if int(m) != int(settings["e_sweep_m"][0]) or s.empty:
            continue
        per_seed = base.get("per_seed", {})
        curve = _ann_curves(per_seed)

        best_e = float(s.loc[s["mean"].idxmax(), "e_pos"])
        at1 = acc_by_seed(at_m, e_pos=1.0)
        swept = ", ".join(f"{e:g}" for e in sorted(s["e_pos"]))
        if at1 and len(s) < 2:
            # a "best |E|" of a sweep that holds |E| = 1 alone would make the drop 0 by construction
            rec.claim(
                "fig4.small_drop_at_e1",
                None,
                note=f"runs missing at this scale (|E| sweep holds only {swept})",
                scale=scale(at_m),
            )
        elif at1:
            sel = pd.concat([select(at_m, e_pos=1.0), select(at_m, e_pos=best_e)])
            rec.value(
                "fig4.max_drop_at_e1",
                float(s["mean"].max() - np.mean(list(at1.values()))),
                n=len(at1),
                scale=scale(sel),
                note=f"best mean |E| ({best_e:g}, of {swept}) minus |E| = 1, M = {m}, random offset",
            )
            claim(
                "fig4.small_drop_at_e1",
                at1,
                acc_by_seed(at_m, e_pos=best_e),
                sel,
                f"best |E| = {best_e:g} of {swept}",
            )
        ann_runs = select(at_m, e_pos=ann_e)
        for e, key in ((1.0, "fig4.pnn_beats_ann_e1"), (2.0, "fig4.pnn_beats_ann_e2")):
            claim(key, acc_by_seed(at_m, e_pos=e), curve("ann", e), pd.concat([select(at_m, e_pos=e), ann_runs]))
        claim("fig4.scaled_ann_beats_ann_e1", curve("scaled", 1.0), curve("ann", 1.0), ann_runs)
        claim(
            "fig4.pnn_beats_scaled_ann_e1",
            acc_by_seed(at_m, e_pos=1.0),
            curve("scaled", 1.0),
            pd.concat([select(at_m, e_pos=1.0), ann_runs]),
        )
        gains = {
            int(seed): float(np.mean([100 * (p["acc"] - q["acc"]) for p, q in zip(v["scaled"], v["ann"])]))
            for seed, v in per_seed.items()
            if v["ann"]
        }
        claim("fig14.scaling_helps", gains, None, ann_runs, "mean over the test |E|")
    rec.table("fig4f", rows, "Fig. 4f: test accuracy vs |E| (mean over seeds), the ANN and the scaled ANN")
    _record_silent_outputs(rec, runs)
    # Fig. 11a / Table 3: σ sweep at M = sigma_m
    m10 = int(settings["sigma_m"])
    sweep = select(runs, steps=m10, offset="random") if len(runs) else runs
    at_sig = select(sweep, sigma=sig) if len(sweep) else sweep
    if len(at_sig):
        lo_e, hi_e = float(at_sig["e_pos"].min()), float(at_sig["e_pos"].max())
        if lo_e < hi_e:
            sel = pd.concat([select(at_sig, e_pos=lo_e), select(at_sig, e_pos=hi_e)])
            claim(
                "fig11.mlp_increases_with_e",
                acc_by_seed(at_sig, e_pos=hi_e),
                acc_by_seed(at_sig, e_pos=lo_e),
                sel,
                f"|E| = {hi_e:g} vs {lo_e:g}",
            )
    t3 = []
    paper_t3 = {v["key"]: v["paper"] for v in rec.paper_values["items"]["table3"]["values"]}
    for sigma in settings["sigmas"]:
        s = summarise(select(sweep, sigma=float(sigma)), ["e_pos"]) if len(sweep) else pd.DataFrame()
        row: dict[str, Any] = {"σ_spike": sigma}
        key = f"fmnist_mlp.sigma{float(sigma):g}"
        if len(s):
            best = s.loc[s["mean"].idxmax()]
            sel = select(sweep, sigma=float(sigma), e_pos=float(best["e_pos"]))
            sc = scale(sel)
            row.update(
                {
                    "best |E|": float(best["e_pos"]),
                    "accuracy (%)": float(best["mean"]),
                    "std": float(best["std"]),
                    "seeds": int(best["n"]),
                    "|E| values": len(s),
                    "scale": sc.kind,
                }
            )
            rec.value(f"table3.{key}.best_e", float(best["e_pos"]), note=f"{len(s)} |E| values", scale=sc)
            rec.value(
                f"table3.{key}.accuracy",
                float(best["mean"]),
                std=float(best["std"]),
                n=int(best["n"]),
                scale=sc,
                at_chance=runs_at_chance(sel),
            )
            if float(sigma) == 0.0:
                rec.value("fig11.mlp_peak_e_sigma0", float(best["e_pos"]), scale=sc)
            claim_key = f"table3.mlp_sigma{float(sigma):g}_accuracy"
            if f"{key}.accuracy" in paper_t3 and claim_key in rec.claim_keys:
                paper_acc = float(paper_t3[f"{key}.accuracy"])
                if sc.kind != "paper":
                    rec.claim(claim_key, None, note="not comparable at reduced scale", scale=sc)
                else:
                    claim(
                        claim_key,
                        {k: v - paper_acc for k, v in acc_by_seed(sel).items()},
                        None,
                        sel,
                        f"best |E| = {float(best['e_pos']):g}",
                    )
        row.update(
            {"paper best |E|": paper_t3.get(f"{key}.best_e"), "paper accuracy (%)": paper_t3.get(f"{key}.accuracy")}
        )
        t3.append(row)
    rec.table(
        "table3_mlp",
        t3,
        f"Table 3, Fashion-MNIST MLP (M = {m10}, random offset): the |E| of the best mean "
        "test accuracy over seeds, and that mean ± std",
    )
    alphas = settings.get("alphas") or []
    if len(alphas) > 1:
        rec.value("fig14.grid_step", float(np.round(np.diff(sorted(alphas)).min(), 6)))
    rec.number("finished runs", len(runs))
    return {"table3": t3, "saturation": saturation}


def _record_silent_outputs(rec: Record, runs: pd.DataFrame) -> None:
    """The runs that ended with silent output neurons (never firing, so never predicting their
    class: a failure of training, not of the model's capacity), as a table, and how many runs
    were checked (runs made before ``pnnlib.train.evaluate`` recorded it are not)."""
    checked = runs[runs["silent_outputs"].notna()] if len(runs) else runs
    rows = [
        {
            "run": r.run_id,
            "|E|": r.e_pos,
            "M": r.steps,
            "seed": r.seed,
            "accuracy (%)": round(100 * r.acc, 2),
            "silent outputs (class)": ", ".join(str(i) for i in r.silent_outputs),
        }
        for r in checked.itertuples()
        if r.silent_outputs
    ]
    rec.number(
        "runs_with_silent_outputs",
        f"{len(rows)} of {len(checked)} runs checked ({len(runs) - len(checked)} made before the check)",
    )
    if rows:
        rec.table(
            "silent_outputs",
            rows,
            "Runs whose final evaluation has output neurons that never fire (their clipped time 1 has no "
            "gradient, and the class is never predicted); they count in every statistic like any other run",
        )


def figure_settings(section: Mapping[str, Any]) -> dict[str, Any]:
    """The settings :func:`record_stage` and the Fig. 4 notebook read, from a profile's ``mlp`` section."""
    grid, fig = section["grid"], section["figures"]
    return {
        "sigma_main": grid["sigma"],
        **{k: grid[k] for k in ("curve_e", "curve_m", "m_sweep_e", "e_sweep_m", "sigmas", "sigma_m")},
        "ann_e": fig["ann_e"],
        "hist_m": fig["hist_m"],
        "saturation_tol": fig["saturation_tol"],
        "alphas": fig["ann_alphas"],
    }


def ann_plan(section: Mapping[str, Any], plan: Mapping[str, TrainConfig] | None = None) -> dict[int, dict[str, Any]]:
    """Per training M of the |E| panels of Fig. 4f: the ANN runs (|E| = ``ann_e``, the
    ``ann_seeds``) and the smaller |E| they are tested at, ``{M: {"runs": [ids], "e": [|E|]}}``,
    among ``plan`` (default: the section's whole plan; the paper evidence passes the archived runs)."""
    plan = mlp_plan(base=section["train"], **section["grid"]) if plan is None else plan
    s = figure_settings(section)
    out = {}
    for m in s["e_sweep_m"]:
        at_m = {
            rid: c for rid, c in plan.items() if c.steps == m and c.offset == "random" and c.sigma == s["sigma_main"]
        }
        seeds = section["figures"]["ann_seeds"]
        runs = sorted(rid for rid, c in at_m.items() if c.e_pos == s["ann_e"] and c.seed in seeds)
        test_e = sorted({c.e_pos for c in at_m.values() if c.e_pos < s["ann_e"]})
        if runs and test_e:
            out[int(m)] = {"runs": runs, "e": test_e}
    return out
