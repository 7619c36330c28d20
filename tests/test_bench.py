"""Tests of the benchmark harness ``pnnlib.bench`` (paper Figs. 2-3, Table 1); tiny sizes."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import numpy as np
import pytest
import torch

from pnnlib.bench import (
    EffConfig,
    complexity_table,
    efficiency,
    error_slopes,
    error_vs_grid,
    fit_loglog_slope,
    measure_config,
    ratios,
    saved_tensor_bytes,
    trajectories,
)
from pnnlib.bench.__main__ import main
from pnnlib.bench.harness import format_table, resolve_device, run_child
from pnnlib.bench.memory import MEASURE_ENV
from pnnlib.io import write_json_atomic

TINY = {"n_out": 8, "n_samples": 12, "batch_size": 6, "repeats": 1, "device": "cpu"}


def test_fit_loglog_slope_recovers_known_power_laws():
    x = np.array([1.0, 2.0, 5.0, 10.0, 100.0])
    for p, c in ((-2.0, 3.0), (-1.0, 0.5), (1.5, 1e-3)):
        slope, intercept = fit_loglog_slope(x, c * x**p)
        assert slope == pytest.approx(p, abs=1e-12)
        assert intercept == pytest.approx(math.log10(c), abs=1e-12)


def test_fit_loglog_slope_range_and_errors():
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    y = np.maximum(x, 4.0) ** -2.0  # a plateau, then the asymptotic power law
    assert fit_loglog_slope(x, y, x_min=4)[0] == pytest.approx(-2.0)
    assert fit_loglog_slope(x, y)[0] > -2.0
    with pytest.raises(ValueError, match="at least two"):
        fit_loglog_slope(x, y, x_min=16)
    with pytest.raises(ValueError, match="same length"):
        fit_loglog_slope(x, y[:-1])


def test_saved_tensor_bytes_counts_the_product_operands():
    a = torch.randn(1000, requires_grad=True)
    b = torch.randn(250, 1000, requires_grad=True)
    assert saved_tensor_bytes(lambda: a * b) == 4 * 1000 + 4 * 250 * 1000
    # a view of b saved twice counts b's storage once; no graph, nothing saved
    assert saved_tensor_bytes(lambda: b[0] * b[0]) == 4 * 250 * 1000
    with torch.no_grad():
        assert saved_tensor_bytes(lambda: a * b) == 0


def test_dstd_error_falls_as_m_squared():
    """Theorem 1 on the Fig. 3a set-up (10 neurons, 1000 inputs), fitted, not eyeballed."""
    err = error_vs_grid([20, 40, 80, 160], [10.0], n_samples=8, n_in=1000, n_out=10)
    slope = error_slopes(err, m_min=20, e_min=10.0)["slope_vs_m"]["10"]
    assert slope == pytest.approx(-2.0, abs=0.15)


def test_error_slopes_on_synthetic_theorem_data():
    steps, es = [10, 20, 40, 80], [100.0, 200.0, 400.0]
    delta = [[3.0 / (m * m * e) for e in es] for m in steps]
    s = error_slopes({"steps": steps, "e": es, "delta": delta}, m_min=10, e_min=100)
    assert s["mean_slope_vs_m"] == pytest.approx(-2.0)
    assert s["mean_slope_vs_e"] == pytest.approx(-1.0)
    assert s["theory_c"] == pytest.approx(3.0)


def test_trajectories_end_points_match():
    cases = trajectories(((2.0, 4), (1.0, 6)), n_in=50, n_show=2, n_points=11)
    for case in cases:
        assert len(case["t"]) == 11 and len(case["v_exact"][0]) == 2
        assert case["grid"][0] == 0.0 and case["grid"][-1] == 1.0
        assert np.allclose(case["v_exact"][0], 0.0) and np.allclose(case["v_dstd"][0], 0.0)
        assert case["abs_err_v1"] == pytest.approx(np.abs(np.subtract(case["v_exact"][-1], case["v_dstd"][-1])).mean())


@pytest.mark.parametrize(
    "model, method",
    [
        ("rcspike", "exact"),
        ("rcspike", "exact-recursion"),
        ("rcspike", "dstd"),
        ("rcspike", "ode"),
        ("rcspike", "ode-adjoint"),
        ("ttfs", "exact"),
        ("ttfs", "dstd"),
    ],
)
@pytest.mark.slow
def test_measure_config_tiny(model, method):
    cfg = EffConfig(model=model, method=method, n_in=20, steps=4, **TINY)
    t = measure_config(cfg, "time")
    m = measure_config(cfg, "memory")
    assert t["epoch_s"] > 0 and t["saved_bytes"] > 0 and m["peak_rss_bytes"] >= 0
    assert ("err" in t) == (method not in ("exact", "exact-recursion"))
    if method.startswith("ode"):
        assert t["nfe_fwd_per_batch"] > 0


def test_eff_config_rejects_unknown():
    with pytest.raises(ValueError, match="method"):
        EffConfig(model="rcspike", method="euler", n_in=10)
    with pytest.raises(ValueError, match="only implemented for RC-Spike"):
        EffConfig(model="ttfs", method="ode", n_in=10)


@pytest.mark.slow
def test_efficiency_in_process_ratios_and_table():
    eff = efficiency([20, 40], methods=("exact", "dstd"), isolate=False, **TINY)
    rows = eff["rows"]
    assert len(rows) == 2 * 2 * 2 and all("epoch_s" in r for r in rows)
    rat = ratios(rows)
    assert {(r["model"], r["n_in"]) for r in rat} == {(m, n) for m in ("rcspike", "ttfs") for n in (20, 40)}
    assert all(r["time_ratio"] > 0 and r["saved_ratio"] > 0 for r in rat)
    table = {(r["model"], r["method"]): r for r in complexity_table(rows)}
    assert table[("rcspike", "exact")]["paper_exponent_N_in"] == 2
    assert table[("ttfs", "dstd")]["measured_time_exponent"] is not None
    assert "N_in" in format_table(rows, [("n_in", "N_in")])


@pytest.mark.slow
def test_efficiency_skips_over_budget():
    eff = efficiency([30], models=("rcspike",), methods=("exact",), isolate=False, mem_budget_gb=1e-9, **TINY)
    (row,) = eff["rows"]
    assert "skipped" in row and row["predicted_peak_bytes"] > 0


@pytest.mark.slow
def test_cli_writes_valid_json(tmp_path, capsys):
    out = tmp_path / "sub" / "bench.json"
    rc = main(
        [
            "dstd",
            "--quick",
            "--spikes",
            "16",
            "--models",
            "rcspike",
            "--methods",
            "exact",
            "dstd",
            "--n-out",
            "8",
            "--n-samples",
            "12",
            "--batch-size",
            "6",
            "--device",
            "cpu",
            "--no-isolate",
            "--json",
            str(out),
            "--table-dir",
            str(tmp_path / "tables"),
        ]
    )
    assert rc == 0
    data = json.loads(out.read_text())
    rows = data["efficiency"]["rows"]
    assert {r["method"] for r in rows} == {"exact", "dstd"}
    assert data["ratios"][0]["time_ratio"] > 0 and "rcspike" in data["summary"]
    assert (tmp_path / "tables" / "table1.md").read_text().startswith("Table 1")
    assert "time x" in capsys.readouterr().out


@pytest.mark.slow
def test_child_process_measures_peak_rss():
    cfg = EffConfig(model="rcspike", method="exact", n_in=200, **{**TINY, "n_out": 200, "batch_size": 12})
    res = run_child(["dstd", "--one-config", json.dumps(asdict(cfg)), "--phase", "memory"], env=MEASURE_ENV)
    # one batch keeps ~10 float32 [12, 200, 200] tensors for backward: well above 1 MiB
    assert res["rss_reset"] is True and res["peak_rss_bytes"] > 2**20


def test_write_json_atomic_strict(tmp_path):
    path = write_json_atomic(tmp_path / "a.json", {"x": math.inf, "y": [1.0, math.nan]})
    assert json.loads(path.read_text()) == {"x": None, "y": [1.0, None]}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            resolve_device("cuda")


def test_every_registered_subcommand_builds():
    from pnnlib.bench.__main__ import SUBCOMMANDS, build_parser

    parser = build_parser()
    for name in SUBCOMMANDS:
        assert parser.parse_args([name]).command == name


@pytest.mark.slow
def test_paper_cost_smoke_profile_is_consistent(tmp_path, capsys):
    from pnnlib.bench.conv_step import grid_intervals
    from pnnlib.bench.paper_cost import EVAL_COST, load_plans, step_seconds

    out = tmp_path / "cost.json"
    assert (
        main(
            [
                "paper-cost",
                "--profile",
                "smoke",
                "--repeats",
                "1",
                "--ref-m",
                "3",
                "--check-m",
                "6",
                "--device",
                "cpu",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    res = json.loads(out.read_text())
    plans = load_plans("smoke")
    # one job per unique run id of each plan, as the pipeline schedules them
    assert {f["family"]: f["runs"] for f in res["families"]} == {f: len(p) for f, p in plans.items()}
    assert res["total"]["runs"] == sum(len(p) for p in plans.values()) == len(res["runs"])
    assert {(r["family"], r["run"]) for r in res["runs"]} == {(f, rid) for f, p in plans.items() for rid in p}
    step_ref = {a["arch"]: a["ref"]["step_s"] for a in res["architectures"]}
    for r in res["runs"]:
        cfg = plans[r["family"]][r["run"]]
        assert r["train_steps"] == cfg.epochs * math.ceil(cfg.train_subset / cfg.batch)
        # linear in the grid intervals K, from the step measured at M_ref = 3 (random offset)
        assert r["step_s"] == pytest.approx(step_ref[r["arch"]] * grid_intervals(cfg.steps, cfg.offset) / 4)
        # one evaluation per epoch + n_eval final ones + the spike histograms, forward only
        assert r["eval_images"] == (cfg.epochs + cfg.n_eval) * cfg.test_subset + min(cfg.hist_samples, cfg.test_subset)
        assert r["eval_s"] == pytest.approx(
            EVAL_COST
            * step_seconds(step_ref[r["arch"]], cfg.eval_steps, cfg.eval_offset, 3)
            * r["eval_images"]
            / cfg.batch
        )
        assert r["device_s"] == pytest.approx(r["train_steps"] * r["step_s"] + r["eval_s"])
    for f in res["families"]:
        rs = [r for r in res["runs"] if r["family"] == f["family"]]
        assert f["device_h"] == pytest.approx(sum(r["device_s"] for r in rs) / 3600)
        assert f["train_steps"] == sum(r["train_steps"] for r in rs)
        assert f["memory_gib"] > 0 and f["gpu_h"] > 0
    assert res["total"]["device_h"] == pytest.approx(sum(f["device_h"] for f in res["families"]))
    lin = res["linearity"]
    assert (lin["ref_m"], lin["check_m"], lin["k_ratio"]) == (3, 6, pytest.approx(7 / 4))
    assert lin["time_ratio"] > 0 and lin["saved_ratio"] > 1  # more grid intervals keep more for backward
    assert step_seconds(2.0, 10, "random", 10) == 2.0 and step_seconds(2.0, 21, "random", 10) == 4.0
    assert step_seconds(2.0, 10, "fixed", 9) == 2.0
    assert "assumption, not measured" in capsys.readouterr().out


def test_paper_cost_unknown_profile_names_the_available_ones(capsys):
    from pnnlib.bench.paper_cost import load_plans
    from pnnlib.pipeline import ProfileError

    with pytest.raises(ProfileError, match=r"available: .*paper.*smoke"):
        load_plans("no_such_profile")
    assert main(["paper-cost", "--profile", "no_such_profile"]) == 2
    assert "available: " in capsys.readouterr().err


def _without(monkeypatch, *modules: str) -> None:
    """Make ``import <module>`` fail, as on a machine where the package is not installed."""
    import sys

    for name in modules:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            monkeypatch.delitem(sys.modules, loaded)
        monkeypatch.setitem(sys.modules, name, None)


def test_profiles_load_without_snakemake_and_still_name_a_bad_key(monkeypatch):
    from pnnlib.bench.paper_cost import load_plans
    from pnnlib.pipeline import ProfileError, load_profile

    _without(monkeypatch, "snakemake")
    with pytest.raises(ImportError):
        import snakemake.utils  # noqa: F401
    plans = load_plans("paper")
    assert {k: len(v) for k, v in plans.items()} == {
        "mlp": 720,
        "vgg7_cifar10": 725,
        "vgg7x2_cifar10": 375,
        "vgg7_fmnist": 375,
        "ttfs_cnn_fmnist": 210,
    }
    with pytest.raises(ProfileError, match=r"mlp\.train\.epochs"):  # validated by jsonschema alone
        load_profile(
            {
                "profile": "smoke",
                "results_dir": "r",
                "figures_dir": "f",
                "kernel": "k",
                "start_timeout": 60,
                "mlp": {"train": {"epochs": 0}},
            }
        )
    _without(monkeypatch, "jsonschema")
    with pytest.warns(RuntimeWarning, match="not validated"):
        assert load_plans("smoke").keys() == plans.keys()


def test_paper_cost_measures_groups_and_the_step_at_every_m_of_the_plan():
    from pnnlib.bench.paper_cost import measure_arch, run_cost
    from pnnlib.train import TrainConfig

    cfg = TrainConfig(
        hidden=[16],
        batch=4,
        train_subset=40,
        test_subset=20,
        epochs=2,
        steps=3,
        eval_steps=5,
        n_eval=1,
        hist_samples=10,
    )
    points = [(3, "fixed"), (3, "random"), (5, "random")]
    m = measure_arch(cfg, 3, 3, torch.device("cpu"), 2, group=3, grid_points=points, eval_points=[(5, "random")])
    ref = m["ref"]
    assert m["group"] == ref["group"] == 3 and ref["step_s"] == pytest.approx(ref["group_step_s"] / 3)
    assert set(m["by_m"]) == {"3-fixed", "3-random", "5-random"} and m["by_m"]["3-random"] == ref["step_s"]
    assert all(v > 0 for v in m["by_m"].values())
    cost = run_cost(cfg, lambda steps, offset: m["by_m"][f"{steps}-{offset}"])
    assert cost["step_s"] == m["by_m"]["3-random"] and cost["train_steps"] == 2 * 10
    evals = (2 + 1) * 20 + 10
    assert cost["eval_s"] == pytest.approx(m["by_m"]["5-random"] / 3 * evals / 4)  # EVAL_COST = 1/3 of a step
    assert set(m["eval_by_m"]) == {"5-random"} and m["eval_by_m"]["5-random"] > 0  # seconds per test image
    measured = run_cost(cfg, lambda s, o: m["by_m"][f"{s}-{o}"], lambda s, o: m["eval_by_m"][f"{s}-{o}"])
    assert measured["eval_s"] == pytest.approx(m["eval_by_m"]["5-random"] * evals)
    single = measure_arch(cfg, 3, 3, torch.device("cpu"), 1)
    assert single["ref"]["group"] == 1 and "by_m" not in single
    # a group of 3 dispatches fewer operators per run than one run alone: the GPU's gain
    assert ref["ops"] < single["ref"]["ops"]


@pytest.mark.slow
def test_paper_cost_runs_without_snakemake_with_groups(tmp_path, monkeypatch, capsys):
    _without(monkeypatch, "snakemake", "jsonschema")
    out = tmp_path / "cost.json"
    with pytest.warns(RuntimeWarning, match="not validated"):
        assert (
            main(
                [
                    "paper-cost",
                    "--profile",
                    "smoke",
                    "--repeats",
                    "1",
                    "--ref-m",
                    "2",
                    "--check-m",
                    "3",
                    "--device",
                    "cpu",
                    "--group",
                    "2",
                    "--json",
                    str(out),
                ]
            )
            == 0
        )
    res = json.loads(out.read_text())
    assert res["group"] == 2 and res["m_scaling"] == "linear"
    for a in res["architectures"]:
        assert a["ref"]["group"] == 2 and a["ref"]["step_s"] == pytest.approx(a["ref"]["group_step_s"] / 2)
    assert "groups of 2 runs" in capsys.readouterr().out
