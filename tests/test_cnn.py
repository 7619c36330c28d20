"""Convolutional DSTD against exact solutions, and the CNN experiment helpers (pnnlib.experiments.cnn)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pnnlib.core import dstd
from pnnlib.core.neuron import beta_weight, rcspike_exact, v_end_scan
from pnnlib.experiments import cnn
from pnnlib.experiments.mlp import ID_KEYS
from pnnlib.nn.networks import ttfs_cnn, vgg7
from pnnlib.train import load_model


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
    w = (torch.randn(7, *shape[1:2], *((3, 3) if conv else ()), generator=rng, dtype=torch.float64) * 0.4)
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
    assert all(c.model == "vgg7" and c.dataset == "cifar10" and c.width == 1.0 and c.init_gain == cnn.VGG7_INIT_GAIN
               for c in full.values())
    n_e = len(cnn.PAPER_E_GRID)
    curves, m_sweep, e_sweep, sig = 2 * 2 * 2, 3 * 7 * 2, n_e * 2, n_e * 5
    assert len(full) < 5 * (curves + m_sweep + e_sweep + sig)  # shared runs appear once
    assert "e4-m15-off_random-sig0.01-seed0" in full  # Fig. 13's RC-Spike network (M = 15)
    x2 = cnn.cnn_plan("vgg7x2_cifar10", {"width": 0.25}, seeds=[0], e_sweep=[1.0, 4.0], sigmas=[0.0, 0.04])
    assert sorted(x2) == sorted(f"e{e}-m10-off_random-sig{s}-seed0" for e in (1, 4) for s in (0, 0.04))
    assert all(c.width == 0.25 for c in x2.values())
    ttfs = cnn.cnn_plan("ttfs_cnn_fmnist", seeds=[0])
    c = ttfs["e4-m30-off_random-sig0.01-seed0"]
    assert (c.model, c.lr, c.gamma1, c.t_ref, c.gamma2, c.epochs, c.eval_steps) == ("ttfs_cnn", 2e-4, 0.02, 3.2, 8e-6,
                                                                                        150, 60)
    assert {cfg.e_pos for cfg in ttfs.values()} >= {2.0, 2.8, 31.6}
    assert list(ID_KEYS) == ["e_pos", "steps", "offset", "sigma", "seed"]
    with pytest.raises(ValueError, match="unknown CNN family"):
        cnn.cnn_plan("resnet")


def test_first_converged() -> None:
    assert cnn.first_converged([10, 2, 5, 30], [0.80, 0.70, 0.795, 0.801], 0.01) == 5
    assert math.isnan(cnn.first_converged([], [], 0.1))


@pytest.fixture(scope="module")
def ttfs_run(tmp_path_factory):
    """A tiny trained TTFS CNN run on real Fashion-MNIST images."""
    from pnnlib.train import TrainConfig, train

    out = tmp_path_factory.mktemp("ttfs") / "run"
    cfg = TrainConfig(model="ttfs_cnn", dataset="fashion_mnist", **{**cnn.TTFS_SETTINGS, "epochs": 1},
                      e_pos=3.0, train_subset=64, test_subset=40, n_eval=1, eval_every=0, device="cpu",
                      progress=False, hist_samples=8, eval_batch=20)
    cfg = cfg.replace(steps=4, eval_steps=8)
    train(cfg, out)
    return out


@pytest.mark.slow
def test_test_time_m_evaluates_each_m_several_times(ttfs_run) -> None:
    res = cnn.test_time_m(ttfs_run, [2, 6], n_eval=3, device="cpu")
    assert [r["m"] for r in res] == [2, 6]
    for r in res:
        assert len(r["accs"]) == 3 and 0 <= r["acc"] <= 1
        assert r["acc_std"] == pytest.approx(float(np.std(r["accs"])))


@pytest.mark.slow
def test_ttfs_traces_are_exact_potentials_held_at_zero_after_firing(ttfs_run) -> None:
    tr = cnn.ttfs_traces(ttfs_run, sample=1, n_points=60)
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
