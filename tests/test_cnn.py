"""Convolutional DSTD against exact solutions, the CNN stage's plan (pnnlib.experiments.cnn), its
derived data (test-time-M curves, membrane traces) and its claims on synthetic runs
(pnnlib.experiments.cnn_records)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pnnlib import pipeline
from pnnlib.core import dstd
from pnnlib.core.neuron import beta_weight, rcspike_exact, v_end_scan
from pnnlib.experiments import cnn, cnn_records
from pnnlib.experiments.mlp import ID_KEYS
from pnnlib.nn.networks import ttfs_cnn, vgg7
from pnnlib.pipeline import claims
from pnnlib.pipeline.record import Record, load_paper_values
from pnnlib.train import TrainConfig, load_model

ROOT = Path(__file__).resolve().parents[1]
PV = load_paper_values()


def _generic_rcspike(t_in, weight, e_pos, e_neg, steps, offset, conv):
    """DSTD by the generic autograd formula (kernel cumsum, f and g, closed-form scan)."""
    grid = dstd.dstd_grid(steps, offset, dtype=t_in.dtype)
    s = dstd.spike_variables(t_in, grid, dim=1)
    bw = beta_weight(weight, e_pos, e_neg)
    if conv:
        b, k = s.shape[:2]
        fg = torch.nn.functional.conv2d(s.flatten(0, 1), torch.cat([bw, weight]), padding=1).unflatten(0, (b, k))
    else:
        fg = s @ torch.cat([bw, weight]).t()
    f, g = fg.chunk(2, 2)
    width = (grid[1:] - grid[:-1]).reshape([1, -1] + [1] * (f.dim() - 2))
    return v_end_scan(f, g, width, dim=1)


@pytest.mark.parametrize("conv", [True, False])
@pytest.mark.parametrize("offset", [0.0, 0.013])
def test_fast_dstd_matches_the_generic_formula_and_its_gradients(conv: bool, offset: float, rng) -> None:
    shape = (3, 4, 6, 6) if conv else (5, 40)
    t = torch.rand(*shape, generator=rng, dtype=torch.float64)
    t[0, 0] = math.inf  # no spike
    t.requires_grad_()
    w = torch.randn(7, *shape[1:2], *((3, 3) if conv else ()), generator=rng, dtype=torch.float64) * 0.4
    w.requires_grad_()
    fn = dstd.rcspike_dstd_conv2d if conv else dstd.rcspike_dstd
    kw = {"padding": 1} if conv else {}
    for e in (1.5, 20.0, math.inf):
        fast = fn(t, w, e, -e, 8, offset, **kw)
        ref = _generic_rcspike(t, w, e, -e, 8, offset, conv)
        torch.testing.assert_close(fast, ref, atol=1e-12, rtol=0)
        probe = torch.randn(fast.shape, generator=rng, dtype=torch.float64)
        g_fast = torch.autograd.grad((fast * probe).sum(), (t, w))
        g_ref = torch.autograd.grad((ref * probe).sum(), (t, w))
        for a, b in zip(g_fast, g_ref):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-8)


def test_float32_conv_dstd_is_accurate_at_small_and_large_coefficients(rng) -> None:
    t = torch.rand(4, 3, 8, 8, generator=rng, dtype=torch.float64)
    for scale in (1e-4, 1.0, 30.0):  # f·Δ from ~1e-5 (series regime) to ≫ 1 (fully decayed)
        w = torch.randn(5, 3, 3, 3, generator=rng, dtype=torch.float64) * scale
        v64 = dstd.rcspike_dstd_conv2d(t, w, 2.0, -2.0, 10, 0.02, padding=1)
        v32 = dstd.rcspike_dstd_conv2d(t.float(), w.float(), 2.0, -2.0, 10, 0.02, padding=1)
        torch.testing.assert_close(v32.double(), v64, atol=2e-6 * max(1.0, v64.abs().max().item()), rtol=0)


@torch.no_grad()
def test_vgg_shaped_network_dstd_converges_to_the_exact_network() -> None:
    torch.manual_seed(0)
    net = vgg7(3, 10, 8, 1 / 16, e_pos=2.0, steps=50, offset="fixed", init_gain=2.0).double()
    x = torch.rand(4, 3, 8, 8, dtype=torch.float64)
    approx = {m: None for m in (50, 200)}
    for m in approx:
        net.set_dstd(steps=m)
        approx[m] = net.forward_all(x)
    for layer in net.spiking_layers():
        layer.exact = True
    exact = net.forward_all(x)
    assert len(exact) == 8 and exact[-1].shape == (4, 10)
    assert all(float((1 - t).mean()) > 0.02 for t in exact)  # every layer carries signal
    err = {m: max(float((a - b).abs().max()) for a, b in zip(approx[m], exact)) for m in approx}
    assert err[200] < 1e-4 and err[50] < 2e-3
    assert err[50] / err[200] > 8  # ≈ M⁻² (Theorem 1), through all eight layers


@torch.no_grad()
def test_ttfs_cnn_dstd_converges_to_the_exact_network() -> None:
    torch.manual_seed(0)
    net = ttfs_cnn(1, 10, 8, e_pos=3.0, steps=200, offset="fixed").double()
    x = torch.rand(4, 1, 8, 8, dtype=torch.float64)
    approx = net.forward_all(x)
    for layer in net.spiking_layers():
        layer.exact = True
    exact = net.forward_all(x)
    for a, b in zip(approx, exact):
        assert torch.equal(torch.isfinite(a), torch.isfinite(b)) and torch.isfinite(b).any()
        fin = torch.isfinite(b)
        assert float((a - b)[fin].abs().max()) < 1e-2


def test_plans_have_the_paper_grids_and_settings() -> None:
    full = cnn.cnn_plan("vgg7_cifar10")
    assert all(
        c.model == "vgg7" and c.dataset == "cifar10" and c.width == 1.0 and c.init_gain == cnn.VGG7_INIT_GAIN
        for c in full.values()
    )
    n_e = len(cnn.PAPER_E_GRID)
    curves, m_sweep, e_sweep, sig = 2 * 2 * 2, 3 * 7 * 2, n_e * 2, n_e * 5
    assert len(full) < 5 * (curves + m_sweep + e_sweep + sig)  # shared runs appear once
    assert "e4-m15-off_random-sig0.01-seed0" in full  # Fig. 13's RC-Spike network (M = 15)
    x2 = cnn.cnn_plan("vgg7x2_cifar10", {"width": 0.25}, seeds=[0], e_sweep=[1.0, 4.0], sigmas=[0.0, 0.04])
    assert sorted(x2) == sorted(f"e{e}-m10-off_random-sig{s}-seed0" for e in (1, 4) for s in (0, 0.04))
    assert all(c.width == 0.25 for c in x2.values())
    ttfs = cnn.cnn_plan("ttfs_cnn_fmnist", seeds=[0])
    c = ttfs["e4-m30-off_random-sig0.01-seed0"]
    assert (c.model, c.lr, c.gamma1, c.t_ref, c.gamma2, c.epochs, c.eval_steps) == (
        "ttfs_cnn",
        2e-4,
        0.02,
        3.2,
        8e-6,
        150,
        60,
    )
    assert {cfg.e_pos for cfg in ttfs.values()} >= {2.0, 2.8, 31.6}
    assert list(ID_KEYS) == ["e_pos", "steps", "offset", "sigma", "seed"]
    with pytest.raises(ValueError, match="unknown CNN family"):
        cnn.cnn_plan("resnet")


def test_first_converged() -> None:
    assert cnn_records.first_converged([10, 2, 5, 30], [0.80, 0.70, 0.795, 0.801], 0.01) == 5
    assert math.isnan(cnn_records.first_converged([], [], 0.1))


def _section(**fig13: object) -> dict:
    settings = pipeline.load_profile(
        {"profile": "smoke", "results_dir": "r", "figures_dir": "f", "kernel": "k", "start_timeout": 300}, root=ROOT
    )
    section = settings["cnn"]
    section["fig13"].update(fig13)
    return section


def test_the_derived_data_are_planned_from_the_profile() -> None:
    section = _section()
    assert cnn.ann_plan(section, "fig5") == {3: {"runs": ["e100-m3-off_random-sig0.01-seed0"], "e": [1.0]}}
    assert cnn.ann_plan(section, "fig10") == {3: {"runs": ["e31.6-m3-off_random-sig0.01-seed0"], "e": [2.0]}}
    runs = {"mlp": {"e1-m3-off_random-sig0.01-seed0": TrainConfig(steps=3)}, **cnn.plan(section)}
    models = cnn.fig13_models(section, runs)
    assert [(m["stage"], m["train_m"], m["paper_m"]) for m in models] == [
        ("mlp", 3, 30),
        ("vgg7_cifar10", 3, 30),
        ("ttfs_cnn_fmnist", 3, 60),
    ]
    with pytest.raises(pipeline.ProfileError, match="training M"):
        cnn.fig13_models(_section(test_m=[30, 60]), runs)
    with pytest.raises(pipeline.ProfileError, match="no run e9"):
        cnn.fig13_models(_section(models=[{"name": "x", "stage": "mlp", "run": "e9", "paper_m": 30}]), runs)


def _runs(points: dict[tuple, float], model: str = "vgg7", n_classes: int = 10) -> pd.DataFrame:
    """A run table (as :func:`pnnlib.experiments.runs.load_runs` reads it) of synthetic runs:
    ``{(|E|, M, offset, σ, seed): final accuracy}``."""
    rows = []
    for (e, m, off, sig, seed), acc in points.items():
        cfg = {
            "model": model,
            "dataset": "cifar10",
            "e_pos": e,
            "steps": m,
            "offset": off,
            "sigma": sig,
            "seed": seed,
            "epochs": 1,
            "eval_steps": 30,
            "width": 1.0,
        }
        rows.append(
            {
                **cfg,
                "acc": acc,
                "acc_std": 0.0,
                "history": [],
                "path": "",
                "run_id": f"e{e:g}-m{m}-off_{off}-sig{sig:g}-seed{seed}",
                "n_train": 50000,
                "n_classes": n_classes,
                "config": cfg,
            }
        )
    return pd.DataFrame(rows)


def _verdict(rec: Record, key: str) -> tuple[str, str]:
    entry = rec.claims[key][0]
    est = claims.Estimate.from_json(entry["estimate"]) if entry["estimate"] else None
    return claims.verdict(claims.claim_specs(PV)[key], est)


FIG5 = {
    "sigma_main": 0.01,
    "m_sweep_e": [1.0],
    "m_sweep": [2, 15],
    "offsets": ["random", "fixed"],
    "e_sweep_m": [15],
    "ann_e": 100.0,
    "saturation_tol": 0.5,
}


def _interior_peak(mid: dict[int, float], ann: dict[int, float]) -> tuple[str, str]:
    points = {(e, 15, "random", 0.01, s): a - 0.05 * (e == 1.0) for s, a in mid.items() for e in (1.0, 4.0)}
    points |= {(100.0, 15, "random", 0.01, s): a for s, a in ann.items()}
    rec = Record("cnn")
    cnn_records.record_fig5(rec, _runs(points), {}, FIG5, {})
    return _verdict(rec, "fig5.interior_peak")


def test_synthetic_runs_decide_the_fig5_interior_peak_either_way() -> None:
    assert _interior_peak({0: 0.60, 1: 0.61, 2: 0.62}, {0: 0.55, 1: 0.56, 2: 0.565})[0] == claims.CONFIRMED
    assert _interior_peak({0: 0.50, 1: 0.51, 2: 0.505}, {0: 0.60, 1: 0.61, 2: 0.605})[0] == claims.REFUTED
    assert _interior_peak({0: 0.60, 1: 0.50, 2: 0.58}, {0: 0.55, 1: 0.56, 2: 0.565})[0] == claims.INCONCLUSIVE


def test_runs_at_chance_decide_no_cnn_claim() -> None:
    verdict, why = _interior_peak({0: 0.115, 1: 0.118, 2: 0.119}, {0: 0.10, 1: 0.10, 2: 0.101})
    assert verdict == claims.INCONCLUSIVE and "chance" in why
    rec = Record("cnn")
    runs = _runs(
        {
            (e, 10, "random", sig, s): 0.1 + 0.01 * (e == best)
            for sig, best in ((0.0, 1.0), (0.04, 10.0))
            for e in (1.0, 10.0)
            for s in (0, 1, 2)
        }
    )
    cnn_records.record_sigma(rec, {"vgg7_cifar10": runs}, {"sigmas": [0.0, 0.04], "sigma_m": 10}, {})
    assert _verdict(rec, "fig12.vgg7_peak_moves_with_noise")[0] == claims.INCONCLUSIVE
    assert all(v["at_chance"] for key, vs in rec.values.items() for v in vs)


def _peak_moves(best: dict[float, dict[int, float]]) -> tuple[Record, tuple[str, str]]:
    """σ sweeps whose per-seed best |E| is ``best[σ][seed]`` (accuracy 0.8 there, 0.7 elsewhere)."""
    points = {
        (e, 10, "random", sig, s): 0.8 if e == b else 0.7
        for sig, by_seed in best.items()
        for s, b in by_seed.items()
        for e in (1.0, 3.0, 10.0)
    }
    rec = Record("cnn")
    cnn_records.record_sigma(rec, {"vgg7x2_cifar10": _runs(points)}, {"sigmas": sorted(best), "sigma_m": 10}, {})
    return rec, _verdict(rec, "fig12.vgg7x2_peak_moves_with_noise")


def test_synthetic_sweeps_decide_whether_the_best_e_moves_with_the_noise() -> None:
    assert _peak_moves({0.0: {0: 1.0, 1: 1.0, 2: 1.0}, 0.04: {0: 10.0, 1: 10.0, 2: 3.0}})[1][0] == claims.CONFIRMED
    assert _peak_moves({0.0: {0: 10.0, 1: 10.0, 2: 10.0}, 0.04: {0: 1.0, 1: 1.0, 2: 3.0}})[1][0] == claims.REFUTED
    assert _peak_moves({0.0: {0: 1.0, 1: 10.0, 2: 3.0}, 0.04: {0: 10.0, 1: 1.0, 2: 3.0}})[1][0] == claims.INCONCLUSIVE
    rec, _ = _peak_moves({0.0: {0: 1.0, 1: 1.0}, 0.04: {0: 10.0, 1: 10.0}})
    rows = {r["σ_spike"]: r for r in rec.tables["table3_cnn"]["rows"]}
    assert rows[0.04]["best |E|"] == 10.0 and rows[0.04]["accuracy (%)"] == pytest.approx(80.0)
    # the paper's entries come from config/paper_values.yaml, beside ours
    assert rows[0.04]["paper best |E|"] == 15.1 and rows[0.0]["paper accuracy (%)"] == 90.27
    assert rec.values["table3.cifar10_vgg7x2.sigma0.04.best_e"][0]["value"] == 10.0


def _test_m_claim(train: list[float], paper: list[float]) -> tuple[str, str]:
    model = {
        "name": "VGG7",
        "stage": "vgg7_cifar10",
        "paper_m": 30,
        "train_m": 15,
        "model": "vgg7",
        "n_classes": 10,
        "runs": _runs({(4.0, 15, "random", 0.01, 0): float(np.mean(train))}),
        "curve": [
            {"m": m, "acc": float(np.mean(a)), "acc_std": float(np.std(a)), "accs": a}
            for m, a in ((15, train), (30, paper))
        ],
    }
    rec = Record("cnn")
    cnn_records.record_fig13(rec, [model], {"n_eval": len(train), "saturation_tol": 0.5}, {})
    assert rec.values["fig13.test_m_rcspike"][0]["value"] in (15, 30)
    return _verdict(rec, "fig13.vgg7_test_m_saturates")


def test_the_test_time_m_claim_is_decided_over_the_evaluations_of_one_run() -> None:
    train = [0.80, 0.81, 0.80, 0.81]
    assert _test_m_claim(train, [0.81, 0.822, 0.808, 0.82])[0] == claims.CONFIRMED
    assert _test_m_claim(train, [0.75, 0.76, 0.75, 0.76])[0] == claims.REFUTED
    assert _test_m_claim(train, [0.80, 0.78, 0.82, 0.80])[0] == claims.INCONCLUSIVE
    verdict, why = _test_m_claim([0.11, 0.12, 0.11, 0.12], [0.13, 0.14, 0.13, 0.13])
    assert verdict == claims.INCONCLUSIVE and "chance" in why


@pytest.fixture(scope="module")
def ttfs_run(tmp_path_factory):
    """A tiny trained TTFS CNN run on real Fashion-MNIST images."""
    from pnnlib.train import TrainConfig, train

    out = tmp_path_factory.mktemp("ttfs") / "run"
    cfg = TrainConfig(
        model="ttfs_cnn",
        dataset="fashion_mnist",
        **{**cnn.TTFS_SETTINGS, "epochs": 1},
        e_pos=3.0,
        train_subset=64,
        test_subset=40,
        n_eval=1,
        eval_every=0,
        device="cpu",
        progress=False,
        hist_samples=8,
        eval_batch=20,
    )
    cfg = cfg.replace(steps=4, eval_steps=8)
    train(cfg, out)
    return out


@pytest.mark.slow
def test_test_time_m_evaluates_each_m_several_times(ttfs_run) -> None:
    res = cnn.test_time_m(ttfs_run, [2, 6], n_eval=3, device="cpu")
    assert (res["model"], res["train_m"], res["n_classes"], res["n_test"]) == ("ttfs_cnn", 4, 10, 40)
    assert [r["m"] for r in res["curve"]] == [2, 6]
    for r in res["curve"]:
        assert len(r["accs"]) == 3 and 0 <= r["acc"] <= 1
        assert r["acc_std"] == pytest.approx(float(np.std(r["accs"])))


@pytest.mark.slow
def test_the_test_m_cli_gives_identical_numbers_when_rerun(ttfs_run, tmp_path: Path) -> None:
    """The derived-data rule of Fig. 13: each M's draws are seeded by (run seed, M), so a rerun,
    even with the M in another order, gives the same file."""
    args = ["test-m", "--run", str(ttfs_run), "--n-eval", "2", "--device", "cpu", "--out"]
    assert cnn.main([*args, str(tmp_path / "a.json"), "--m", "2", "8"]) == 0
    assert cnn.main([*args, str(tmp_path / "b.json"), "--m", "2", "8"]) == 0
    assert cnn.main([*args, str(tmp_path / "c.json"), "--m", "8", "2"]) == 0
    a, b, c = (json.loads((tmp_path / f"{x}.json").read_text()) for x in "abc")
    assert a == b and a["inputs"]["run"] == "run" and a["inputs_hash"]
    assert sorted(c["result"]["curve"], key=lambda r: r["m"]) == a["result"]["curve"]


@pytest.mark.slow
def test_ttfs_traces_are_exact_potentials_held_at_zero_after_firing(ttfs_run) -> None:
    tr = cnn.ttfs_traces(ttfs_run, sample=1, n_points=60)
    again = cnn.ttfs_traces(ttfs_run, sample=1, n_points=60)
    assert all(np.array_equal(a["v"], b["v"]) for a, b in zip(tr["layers"], again["layers"]))  # seeded draws
    assert tr["t"].shape == (60,) and tr["t"][0] == 0 and tr["t"][-1] == pytest.approx(4.0)
    hidden, output = tr["layers"]
    assert hidden["v"].shape == (60, 128) and output["v"].shape == (60, 10)
    for layer in (hidden, output):
        v, t_fire = layer["v"], layer["t_fire"]
        assert np.all(v[0] == 0)
        before = tr["t"][:, None] < t_fire[None, :]
        assert np.all(v[~before] == 0)
        assert np.all(v[before] <= 1.0 + 1e-9)  # below threshold until it fires
        assert np.all(v <= tr["e_pos"] + 1e-9)  # bounded by E⁺
    # At its firing time the exact potential of a neuron that fires reaches the threshold V_th = 1.
    model, _ = load_model(ttfs_run)
    w = model.layers[-2].weight.detach().double()
    fired = np.flatnonzero(np.isfinite(hidden["t_fire"]))
    assert len(fired)
    for i in fired[:5]:
        v = rcspike_exact(torch.as_tensor(hidden["t_in"]), w, 3.0, -3.0, t_end=float(hidden["t_fire"][i]))
        assert float(v[0, i]) == pytest.approx(1.0, abs=1e-9)
