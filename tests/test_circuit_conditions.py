"""The corners / temperature / mismatch study (our extension): conditions, the discharger trim, the
claim statistics (fast), and, marked ``spice``, the trim and a mismatch instance in ngspice."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pnnlib.circuit import CircuitParams, LayerBiases, simulate_biases
from pnnlib.circuit.conditions import (
    Condition,
    _solve_log_t,
    condition_grid,
    no_input_firing_job,
    no_input_firing_times,
    trim_discharger_bias,
)
from pnnlib.circuit.runner import run_jobs
from pnnlib.experiments.circuit_validation.conditions import (
    advantage_statistics,
    clopper_pearson,
    ratio_interval,
    ratios,
    table_rows,
)

TT = Condition("tt", 27.0)


# --------------------------------------------------------------------------- fast


def test_condition_names_and_grid() -> None:
    assert [c.name for c in condition_grid(["tt", "ss", "ff"], [-40, 27, 85.5], TT)] == [
        "tt_27C",
        "ss_27C",
        "ff_27C",
        "tt_m40C",
        "tt_85p5C",
    ]
    assert Condition("ss", 27).params(CircuitParams()).corner == "ss"
    with pytest.raises(ValueError, match="corner must be"):
        Condition("tt\n.control", 27.0)
    with pytest.raises(ValueError, match="temp_c must lie in"):
        Condition("tt", 200.0)


def test_trim_solves_in_log_time_and_refuses_what_it_cannot_bracket() -> None:
    vb = np.round(np.arange(0.50, 0.601, 0.02), 3)
    t = 2.0 * np.exp(-(vb - 0.50) / 0.035)  # near-threshold discharger: t falls exponentially with V_b^dis
    assert _solve_log_t(vb, t, 1.0) == pytest.approx(0.50 + 0.035 * np.log(2.0), abs=1e-9)
    assert _solve_log_t(vb, np.where(vb < 0.52, np.nan, t), 1.0) == pytest.approx(0.524260, abs=1e-6)
    with pytest.raises(ValueError, match="outside"):
        _solve_log_t(vb, t, 5.0)
    with pytest.raises(ValueError, match="not strictly decreasing"):
        _solve_log_t(vb, t[::-1], 1.0)


def test_clopper_pearson_interval() -> None:
    assert clopper_pearson(0, 20) == pytest.approx((0.0, 1 - 0.025 ** (1 / 20)))
    assert clopper_pearson(20, 20) == pytest.approx((0.025 ** (1 / 20), 1.0))
    lo, hi = clopper_pearson(10, 20)
    assert lo == pytest.approx(0.272, abs=1e-3) and hi == pytest.approx(0.728, abs=1e-3)


def _side(rmse: float, n: int = 8, seed: int = 0) -> dict:
    sq = np.random.default_rng(seed).uniform(0.5, 1.5, n) * rmse**2
    return {
        "rmse_ns": float(np.sqrt(sq.mean())),
        "rmse_class_ns": float(np.sqrt(sq.mean())) / 2,
        "sample_sq_ns2": sq.tolist(),
        "sample_sq_class_ns2": (sq / 4).tolist(),
        "accuracy_spice": 0.9,
        "scale": [1.0, 1.1],
    }


def test_ratio_interval_resamples_samples_together() -> None:
    sq = [1.0, 4.0, 9.0, 0.5]
    assert ratio_interval(sq, sq) == pytest.approx([1.0, 1.0])
    assert ratio_interval([4 * x for x in sq], sq) == pytest.approx([2.0, 2.0])
    r = ratios(_side(20.0, seed=1), _side(2.0, seed=2))
    assert r["ratio_ci"][0] < r["ratio"] < r["ratio_ci"][1]
    assert r["ratio_class"] == pytest.approx(r["ratio"])


def test_advantage_statistics_and_table() -> None:
    def row(name: str, td: float, bu: float, retrained: float) -> dict:
        cal = {"top_down": _side(td), "bottom_up": _side(bu)}
        cal.update(ratios(cal["top_down"], cal["bottom_up"]))
        unc = {"top_down": _side(3 * td), "bottom_up": _side(3 * td)}
        unc.update(ratios(unc["top_down"], unc["bottom_up"]))
        re = _side(retrained)
        re["versus_top_down"] = ratios(cal["top_down"], re)
        return {"condition": {"name": name}, "calibrated": cal, "uncalibrated": unc, "retrained_bottom_up": re}

    rows = [row("tt_27C", 20, 2, 2), row("ff_27C", 20, 10, 4), row("ss_27C", 20, 40, 5)]
    mc = [
        {"ratio": r, "ratio_class": r / 2, "bottom_up_closer": r > 1, "bottom_up_closer_class": r / 2 > 1}
        for r in (5.0, 3.0, 0.5, 2.0)
    ]
    stats = advantage_statistics(rows, mc)
    cal = stats["conditions"]["calibrated"]
    assert cal["ratio_min"] == pytest.approx(0.5) and cal["ratio_min_condition"] == "ss_27C"
    assert cal["n"] == 3 and cal["n_bottom_up_closer"] == 2
    assert stats["conditions"]["retrained_bottom_up"]["n_bottom_up_closer"] == 3
    assert stats["conditions"]["uncalibrated"]["ratio_median"] == pytest.approx(1.0)
    m = stats["mismatch"]["bottom_up_closer"]
    assert m["k"] == 3 and m["fraction"] == 0.75 and m["ci"] == pytest.approx(list(clopper_pearson(3, 4)))
    assert stats["mismatch"]["bottom_up_closer_class"]["k"] == 2
    table = table_rows(rows)
    assert len(table) == 9 and table[2]["variant"].startswith("bottom-up retrained")
    assert table[2]["rmse_td"] == table[0]["rmse_td"], "retrained bottom-up is compared with the calibrated top-down"


# --------------------------------------------------------------------------- ngspice


@pytest.mark.spice
def test_trimmed_discharger_fires_the_silent_neuron_on_target(tmp_path: Path) -> None:
    """At ff the nominal V_b^dis = 0.554 V makes a neuron without input fire well inside its window
    (t ~ 0.64 T); the trim finds the bias where it fires at the target, checked in a fresh deck."""
    params = Condition("ff", 27.0).params(CircuitParams())
    trim = trim_discharger_bias(params, 1.004, tmp_path)
    assert trim.t_nominal < 0.8 and trim.vb_dis < params.vb_dis
    (check,) = run_jobs([no_input_firing_job(params, np.array([trim.vb_dis]), "check")], tmp_path)
    assert no_input_firing_times(check.outputs["no_input.dat"], params, 1)[0] == pytest.approx(1.004, abs=0.002)


@pytest.mark.spice
def test_mismatch_instance_is_its_seed_and_reruns_by_hand(tmp_path: Path) -> None:
    """A mismatch instance is fixed by its seed (written into the deck): the same seed gives the same
    devices under another run name, another seed other devices, and the deck reruns by hand."""
    layers = [LayerBiases(v_n=np.array([[0.5, 0.45]]), v_p=np.array([[1.8, 1.8]]))]
    x = np.array([[0.0, 0.3]])

    def run(seed: int | None, name: str):
        return simulate_biases(layers, x, out_dir=tmp_path, params=CircuitParams(mismatch_seed=seed), name=name)

    nominal, a, b, other = run(None, "nominal"), run(7, "a"), run(7, "b"), run(8, "c")
    deck = a.decks[0].read_text()
    assert "tt_mm\n" in deck and "\n.options seed=7\n" in deck
    np.testing.assert_array_equal(a.v_end_acc[0], b.v_end_acc[0])
    for res in (nominal, other):
        assert abs(res.v_end_acc[0][0, 0] - a.v_end_acc[0][0, 0]) > 1e-3  # mV-scale differences
    by_hand = tmp_path / "by_hand"
    shutil.copytree(a.decks[0].parent, by_hand)
    (by_hand / "network.dat").unlink()
    subprocess.run(["ngspice", "-b", "deck.cir"], cwd=by_hand, capture_output=True, check=True, timeout=300)
    assert (by_hand / "network.dat").read_bytes() == (a.decks[0].parent / "network.dat").read_bytes()
