"""Claims as verdicts (pnnlib.pipeline.claims), the reporting contract (pnnlib.pipeline.record)
and REPORT.md (pnnlib.pipeline.report), on synthetic runs and records."""

import json
from pathlib import Path

import pandas as pd
import pytest

from pnnlib.experiments import mlp
from pnnlib.pipeline import claims, report
from pnnlib.pipeline.record import Record, Scale, load_paper_values

PV = load_paper_values()
GT = claims.ClaimSpec("fig4", "x", "text", "stat", ">", threshold=0.0)
BAND = claims.ClaimSpec("table3", "y", "text", "stat", "within", band=(-1.0, 1.0))


def test_interval_above_is_confirmed_below_is_refuted_straddling_is_inconclusive() -> None:
    assert claims.verdict(GT, claims.seeds_estimate([2.0, 2.5, 3.0]))[0] == claims.CONFIRMED
    assert claims.verdict(GT, claims.seeds_estimate([-2.0, -2.5, -3.0]))[0] == claims.REFUTED
    assert claims.verdict(GT, claims.seeds_estimate([-1.0, 0.5, 2.0]))[0] == claims.INCONCLUSIVE
    assert claims.verdict(BAND, claims.seeds_estimate([0.1, 0.2, 0.3]))[0] == claims.CONFIRMED
    assert claims.verdict(BAND, claims.seeds_estimate([3.0, 3.1, 3.2]))[0] == claims.REFUTED
    assert claims.verdict(BAND, claims.seeds_estimate([0.5, 1.0, 1.5]))[0] == claims.INCONCLUSIVE


def test_one_seed_gives_no_interval_and_decides_nothing() -> None:
    est = claims.seeds_estimate([5.0])
    assert est.lo is None and est.n == 1
    v, why = claims.verdict(GT, est)
    assert v == claims.INCONCLUSIVE and "one seed" in why


def test_paired_difference_pairs_by_seed() -> None:
    est = claims.paired({0: 90.0, 1: 91.0, 2: 92.0, 3: 50.0}, {0: 89.0, 1: 90.0, 2: 91.0})
    assert est.n == 3 and est.mean == pytest.approx(1.0) and est.lo == pytest.approx(1.0)


def _runs(
    acc: dict[tuple[float, int], float], n_classes: int = 10, silent: dict[tuple[float, int], list] | None = None
) -> pd.DataFrame:
    """Runs as :func:`pnnlib.experiments.load_runs` gives them; ``silent``: the recorded silent
    outputs of some runs (the others predate that record)."""
    rows = []
    for (e, seed), a in acc.items():
        cfg = {
            "e_pos": e,
            "steps": 15,
            "offset": "random",
            "sigma": 0.01,
            "seed": seed,
            "epochs": 1,
            "eval_steps": 30,
            "width": 1.0,
        }
        rows.append(
            {
                **cfg,
                "acc": a,
                "acc_std": 0.0,
                "silent_outputs": (silent or {}).get((e, seed)),
                "history": [],
                "path": "",
                "run_id": f"e{e:g}-seed{seed}",
                "n_train": 60000,
                "n_classes": n_classes,
                "config": cfg,
            }
        )
    return pd.DataFrame(rows)


def _ann(acc_at_1: dict[int, float]) -> dict[int, dict]:
    per_seed = {
        s: {"ann": [{"e": 1.0, "acc": a}], "scaled": [{"e": 1.0, "acc": a + 0.01}]} for s, a in acc_at_1.items()
    }
    return {15: {"per_seed": per_seed, "ann": [], "scaled": []}}


SETTINGS = {
    "sigma_main": 0.01,
    "curve_e": [1.0],
    "curve_m": [3, 15],
    "m_sweep_e": [1.0],
    "e_sweep_m": [15],
    "sigmas": [0.01],
    "sigma_m": 10,
    "ann_e": 100.0,
    "hist_m": 3,
    "saturation_tol": 0.3,
    "alphas": [1.0],
}


def _pnn_vs_ann(pnn: dict[int, float], ann: dict[int, float], n_classes: int = 10) -> tuple[str, str]:
    runs = _runs({**{(1.0, s): a for s, a in pnn.items()}, **{(100.0, s): 0.9 for s in pnn}}, n_classes)
    rec = Record("mlp")
    mlp.record_stage(rec, runs, _ann(ann), SETTINGS, {})
    spec = claims.claim_specs(PV)["fig4.pnn_beats_ann_e1"]
    entry = rec.claims["fig4.pnn_beats_ann_e1"][0]
    return claims.verdict(spec, claims.Estimate.from_json(entry["estimate"]))


def test_synthetic_runs_decide_the_fig4f_claim_either_way() -> None:
    assert _pnn_vs_ann({0: 0.85, 1: 0.86, 2: 0.855}, {0: 0.70, 1: 0.72, 2: 0.69})[0] == claims.CONFIRMED
    assert _pnn_vs_ann({0: 0.70, 1: 0.72, 2: 0.69}, {0: 0.85, 1: 0.86, 2: 0.855})[0] == claims.REFUTED
    assert _pnn_vs_ann({0: 0.85, 1: 0.80, 2: 0.90}, {0: 0.86, 1: 0.81, 2: 0.84})[0] == claims.INCONCLUSIVE


def test_a_sweep_holding_only_e1_does_not_decide_the_small_drop_claim() -> None:
    rec = Record("mlp")
    mlp.record_stage(rec, _runs({(1.0, 0): 0.89, (1.0, 1): 0.894}), {}, SETTINGS, {})
    entry = rec.claims["fig4.small_drop_at_e1"][0]
    assert entry["estimate"] is None and "only 1" in entry["note"]
    assert "fig4.max_drop_at_e1" not in rec.values
    rec = Record("mlp")
    mlp.record_stage(rec, _runs({(1.0, 0): 0.89, (1.0, 1): 0.894, (4.0, 0): 0.90, (4.0, 1): 0.91}), {}, SETTINGS, {})
    assert rec.claims["fig4.small_drop_at_e1"][0]["estimate"]["mean"] < 0


def test_runs_with_silent_outputs_are_listed_and_unchecked_runs_counted() -> None:
    runs = _runs({(1.0, 0): 0.89, (1.0, 1): 0.88, (1.0, 2): 0.74}, silent={(1.0, 1): [], (1.0, 2): [0, 3]})
    rec = Record("mlp")
    mlp.record_stage(rec, runs, {}, SETTINGS, {})
    assert rec.numbers["runs_with_silent_outputs"] == "1 of 2 runs checked (1 made before the check)"
    (row,) = rec.tables["silent_outputs"]["rows"]
    assert row["run"] == "e1-seed2" and row["silent outputs (class)"] == "0, 3" and row["accuracy (%)"] == 74.0


def test_a_run_at_chance_cannot_decide_a_claim() -> None:
    v, why = _pnn_vs_ann({0: 0.11, 1: 0.12, 2: 0.11}, {0: 0.05, 1: 0.04, 2: 0.05})
    assert v == claims.INCONCLUSIVE and "chance" in why


def test_a_mistyped_reporting_key_fails_naming_the_fix() -> None:
    rec = Record("mlp")
    with pytest.raises(KeyError, match="did you mean fig7.rmse_pnn"):
        rec.value("fig7.rmse_pn", 1.0)
    with pytest.raises(KeyError, match="claim"):
        rec.claim("fig4.pnn_beats_ann", None)
    with pytest.raises(TypeError):
        rec.number("a list", [1, 2])


def _manifest(tmp: Path, rec: Record) -> dict:
    rec.save(tmp / "res" / "record.json")
    (tmp / "fig").mkdir(exist_ok=True)
    (tmp / "fig" / "fig4.png").write_text("")
    return {
        "profile": "quick",
        "profile_file": "config/profiles/quick.yaml",
        "results_dir": "res",
        "figures_dir": "fig",
        "stages": {
            "mlp": {"title": "MLP", "items": {"fig4": ["fig/fig4.png"]}, "values": ["res/record.json"], "outputs": []}
        },
    }


def test_report_shows_scale_verdict_and_never_compares_a_reduced_scale_number(tmp_path: Path) -> None:
    rec = Record("mlp")
    reduced = Scale("reduced", "reduced scale: 60,000 training images, 1 epoch, 3 seeds, test M = 30")
    rec.value("fig4.max_drop_at_e1", 4.2, n=3, scale=reduced)
    rec.claim("fig4.pnn_beats_ann_e1", claims.seeds_estimate([5.0, 6.0, 7.0]), scale=reduced)
    text = report.build_report(PV, _manifest(tmp_path, rec), tmp_path, Path("fig/REPORT.md"))
    assert "not comparable (reduced scale)" in text
    assert "**confirmed** (interval above the threshold)" in text and "+6 [+3.52, +8.48] (n = 3)" in text
    assert "0 confirmed at paper scale**, 1 confirmed at reduced scale" in text
    assert "everything" not in text.lower()
    for item in PV["items"]:
        assert f"| {report._label(item)} |" in text


def test_report_never_claims_everything_reproduced(tmp_path: Path) -> None:
    rec = Record("mlp")
    paper = Scale("paper", "paper scale")
    for key in claims.claim_specs(PV):
        rec.claim(key, claims.seeds_estimate([100.0, 101.0, 102.0]), scale=paper)
    text = report.build_report(PV, _manifest(tmp_path, rec), tmp_path, Path("fig/REPORT.md"))
    assert "everything the paper computes is reproduced" not in text.lower()
    assert f"Of the paper's {len(claims.claim_specs(PV))} claims" in text


def test_stage_tables_render_as_markdown_not_raw_dicts(tmp_path: Path) -> None:
    rec = Record("mlp")
    rec.table("t", [{"a": 1.23456789, "b": None}], "cap")
    text = report.build_report(PV, _manifest(tmp_path, rec), tmp_path, Path("fig/REPORT.md"))
    assert "| a | b |" in text and "| 1.235 | — |" in text and "{'a'" not in text
    json.dumps(rec.to_json())


def _conditions_result(ratios: dict[str, tuple[float, float, float]], closer: int, n_mc: int = 20) -> dict:
    """A conditions.json with the given calibrated class-output ratios (ratio, lo, hi) per condition."""
    from pnnlib.experiments.circuit_validation.conditions import clopper_pearson

    worst = min(ratios, key=lambda c: ratios[c][0])
    block = {
        "n": len(ratios),
        "ratio_min": ratios[worst][0],
        "ratio_min_condition": worst,
        "ratio_min_ci": list(ratios[worst][1:]),
        "ratios": {c: {"ratio": r, "ci": [lo, hi]} for c, (r, lo, hi) in ratios.items()},
    }
    return {
        "settings": {"n_test": 10},
        "conditions": [{"condition": {"name": c}} for c in ratios],
        "mismatch": {"n_samples": 5, "instances": [{}] * n_mc},
        "statistics": {
            "conditions": {"calibrated_class": block},
            "mismatch": {
                "n": n_mc,
                "bottom_up_closer_class": {
                    "k": closer,
                    "fraction": closer / n_mc,
                    "ci": list(clopper_pearson(closer, n_mc)),
                },
            },
        },
        "stage_numbers": {"wall time [s]": 1.0},
    }


def test_the_conditions_claim_is_refuted_by_one_condition_whose_interval_lies_below_1() -> None:
    from pnnlib.experiments.circuit_records import record_conditions

    specs = claims.claim_specs(PV, "extensions")
    rec = Record("circuit")
    record_conditions(rec, _conditions_result({"tt": (12.0, 8.0, 20.0), "ff": (0.6, 0.4, 0.9)}, closer=19))
    est = claims.Estimate.from_json(rec.claims["ext_conditions.advantage_calibrated"][0]["estimate"])
    assert claims.verdict(specs["ext_conditions.advantage_calibrated"], est)[0] == claims.REFUTED
    rec = Record("circuit")
    record_conditions(rec, _conditions_result({"tt": (12.0, 8.0, 20.0), "ff": (3.0, 0.8, 6.0)}, closer=19))
    est = claims.Estimate.from_json(rec.claims["ext_conditions.advantage_calibrated"][0]["estimate"])
    assert claims.verdict(specs["ext_conditions.advantage_calibrated"], est)[0] == claims.INCONCLUSIVE
    mm = claims.Estimate.from_json(rec.claims["ext_conditions.advantage_mismatch"][0]["estimate"])
    assert claims.verdict(specs["ext_conditions.advantage_mismatch"], mm)[0] == claims.CONFIRMED  # 19 of 20
    assert rec.claims["ext_conditions.advantage_uncalibrated"][0]["estimate"] is None  # not in the file


def test_extension_claims_get_their_own_section_and_are_not_counted_as_the_papers(tmp_path: Path) -> None:
    from pnnlib.experiments.circuit_records import record_conditions

    rec = Record("circuit")
    record_conditions(rec, _conditions_result({"tt": (12.0, 8.0, 20.0), "ff": (5.0, 2.0, 9.0)}, closer=19))
    manifest = _manifest(tmp_path, rec)
    manifest["stages"]["mlp"]["extensions"] = {"ext_circuit_mismatch": ["fig/ext_circuit_mismatch.png"]}
    text = report.build_report(PV, manifest, tmp_path, Path("fig/REPORT.md"))
    before, beyond = text.split("## Beyond the paper")
    assert "ext_circuit_mismatch" not in before and "advantage" not in before
    assert f"Of the paper's {len(claims.claim_specs(PV))} claims" in before
    assert "[`ext_circuit_mismatch.png`](ext_circuit_mismatch.png)" in beyond
    assert "Taken together: **inconclusive** (2 of 4 parts confirmed" in beyond  # 2 parts not computed


def test_without_extensions_there_is_no_beyond_the_paper_section(tmp_path: Path) -> None:
    text = report.build_report(PV, _manifest(tmp_path, Record("mlp")), tmp_path, Path("fig/REPORT.md"))
    assert "## Beyond the paper" not in text


def test_tables_of_the_same_name_from_two_records_of_a_stage_are_both_shown(tmp_path: Path) -> None:
    ours, archived = Record("mlp"), Record("mlp")
    ours.table("fig4f", [{"PNN (%)": 79.7}], "this profile")
    archived.table("fig4f", [{"PNN (%)": 89.34}], "archive")
    manifest = _manifest(tmp_path, ours)
    archived.save(tmp_path / "res" / "paper" / "record.json")
    manifest["stages"]["mlp"]["values"].append("res/paper/record.json")
    text = report.build_report(PV, manifest, tmp_path, Path("fig/REPORT.md"))
    assert "| 79.7 |" in text and "| 89.34 |" in text and "fig4f (res/paper/record.json)" in text
