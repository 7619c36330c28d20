"""DSTD against the exact solvers (paper-spec §2, Theorem 1) and its conv form."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pnnlib.core.dstd import (
    dstd_grid,
    rcspike_dstd,
    rcspike_dstd_conv2d,
    rcspike_dstd_trajectory,
    spike_variables,
    ttfs_dstd,
    ttfs_dstd_conv2d,
)
from pnnlib.core.neuron import rcspike_exact, ttfs_exact


def _setup(rng, b=200, n=100, o=10):
    t = torch.rand(b, n, generator=rng, dtype=torch.float64)
    w = torch.randn(o, n, generator=rng, dtype=torch.float64) * 2 / math.sqrt(n)
    return t, w


def _slope(x, y) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def test_grid_convention() -> None:
    g = dstd_grid(4, 0.1, dtype=torch.float64)
    torch.testing.assert_close(g, torch.tensor([-0.1, 0.15, 0.4, 0.65, 0.9, 1.0], dtype=torch.float64))
    torch.testing.assert_close(
        dstd_grid(4, 0.0, dtype=torch.float64), torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64)
    )
    r = dstd_grid(5, None)
    assert r.shape == (7,) and 0 < -r[0] < 0.2 and r[-1] == 1.0


def test_spike_variables_split_each_spike_over_two_neighbours() -> None:
    grid = dstd_grid(4, 0.0, dtype=torch.float64)  # 0, .25, .5, .75, 1
    s_cum = spike_variables(torch.tensor([[0.3, 0.25, 1.0, math.inf]], dtype=torch.float64), grid)
    s = torch.diff(s_cum, dim=1, prepend=torch.zeros_like(s_cum[:, :1]))
    # 0.3 = 0.8 of the way from .25 to .5 → masses 0.8 at .25 and 0.2 at .5
    torch.testing.assert_close(s[0, :, 0], torch.tensor([0.0, 0.8, 0.2, 0.0], dtype=torch.float64))
    torch.testing.assert_close(s[0, :, 1], torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64))
    assert s_cum[0, :, 2].abs().sum() == 0 and s_cum[0, :, 3].abs().sum() == 0


def test_dstd_error_falls_as_m_to_the_minus_two(rng) -> None:
    t, w = _setup(rng)
    ms = [8, 16, 32, 64, 128]
    v = rcspike_exact(t, w, 4.0, -4.0)
    err = [(rcspike_dstd(t, w, 4.0, -4.0, m, offset=0.0) - v).abs().mean().item() for m in ms]
    assert _slope(ms, err) == pytest.approx(-2.0, abs=0.2)


def test_dstd_error_falls_as_e_to_the_minus_one(rng) -> None:
    t, w = _setup(rng)
    es = [32.0, 64.0, 128.0, 256.0, 512.0]
    err = [(rcspike_dstd(t, w, e, -e, 32, offset=0.0) - rcspike_exact(t, w, e, -e)).abs().mean().item() for e in es]
    assert _slope(es, err) == pytest.approx(-1.0, abs=0.2)


def test_dstd_is_exact_in_the_ideal_limit(rng) -> None:
    t, w = _setup(rng, b=8)
    v = rcspike_exact(t, w, math.inf, -math.inf)
    for m, off in [(2, 0.0), (3, 0.2), (7, None)]:
        torch.testing.assert_close(rcspike_dstd(t, w, math.inf, -math.inf, m, off), v, atol=1e-12, rtol=0)


def test_dstd_error_at_m10_e2_is_small(rng) -> None:
    t, w = _setup(rng)
    v = rcspike_exact(t, w, 2.0, -2.0)
    err = (rcspike_dstd(t, w, 2.0, -2.0, 10, offset=None) - v).abs().mean().item()
    assert err < 5e-3


def test_random_offset_changes_the_grid_between_calls(rng) -> None:
    t, w = _setup(rng, b=4)
    a = rcspike_dstd(t, w, 1.0, -1.0, 3)
    b = rcspike_dstd(t, w, 1.0, -1.0, 3)
    assert not torch.equal(a, b)


def test_trajectory_ends_at_the_dstd_value(rng) -> None:
    t, w = _setup(rng, b=4)
    grid, v = rcspike_dstd_trajectory(t, w, 2.0, -2.0, 6, 0.05)
    torch.testing.assert_close(v[:, -1], rcspike_dstd(t, w, 2.0, -2.0, 6, 0.05))
    assert v.shape == (4, grid.numel(), 10) and (v[:, 0] == 0).all()


def test_ttfs_dstd_converges_to_exact(rng) -> None:
    t = torch.rand(16, 40, generator=rng, dtype=torch.float64)
    w = torch.rand(8, 40, generator=rng, dtype=torch.float64) * 0.12
    exact = ttfs_exact(t, w, 3.0, -3.0)
    fin = torch.isfinite(exact)
    assert fin.float().mean() > 0.5
    errs = []
    for m in (20, 80, 320):
        out = ttfs_dstd(t, w, 3.0, -3.0, m, offset=0.0, t_max=2.0)
        assert torch.equal(torch.isfinite(out), fin)
        errs.append((out - exact)[fin].abs().mean().item())
    assert errs[2] < errs[0] / 8 and errs[2] < 1e-3


def test_gradcheck_through_dstd() -> None:
    g = torch.Generator().manual_seed(0)
    t = torch.rand(2, 5, generator=g, dtype=torch.float64).requires_grad_()
    w = torch.randn(3, 5, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: rcspike_dstd(a, b, 1.5, -2.0, 4, 0.07), (t, w))
    wt = (torch.rand(3, 5, generator=g, dtype=torch.float64) + 0.5).requires_grad_()

    def ttfs(a, b):
        out = ttfs_dstd(a, b, 3.0, -3.0, 6, 0.1, t_max=2.0)
        return torch.where(torch.isfinite(out), out, torch.zeros_like(out))

    assert torch.isfinite(ttfs(t, wt)).all()
    assert torch.autograd.gradcheck(ttfs, (t, wt))


def test_no_nan_gradients_at_edges() -> None:
    t = torch.tensor([[0.0, 1.0, 0.5, math.inf]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([[0.0, 0.3, 0.0, 0.2]], dtype=torch.float64, requires_grad=True)
    for off in (0.0, None):
        rcspike_dstd(t, w, 2.0, -2.0, 5, off).sum().backward()
        out = ttfs_dstd(t, w, 2.0, -2.0, 5, off)
        out[torch.isfinite(out)].sum().backward()
    assert torch.isfinite(t.grad).all() and torch.isfinite(w.grad).all()


@pytest.mark.parametrize(("stride", "padding"), [(1, 1), (2, 0), (1, 0)])
def test_conv_dstd_equals_dense_dstd_on_unfolded_patches(stride: int, padding: int, rng) -> None:
    t = torch.rand(2, 3, 6, 6, generator=rng, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 3, generator=rng, dtype=torch.float64) * 0.3
    v = rcspike_dstd_conv2d(t, w, 2.0, -2.0, 5, 0.03, stride=stride, padding=padding)
    tp = F.pad(t, (padding,) * 4, value=1.0)  # padding = no spike
    cols = F.unfold(tp, 3, stride=stride).transpose(1, 2).reshape(-1, 27)
    ref = rcspike_dstd(cols, w.flatten(1), 2.0, -2.0, 5, 0.03)
    ho = (6 + 2 * padding - 3) // stride + 1
    torch.testing.assert_close(v, ref.reshape(2, ho, ho, 4).permute(0, 3, 1, 2))
    tt = ttfs_dstd_conv2d(t, w.abs(), 2.0, -2.0, 5, 0.03, stride=stride, padding=padding)
    tp = F.pad(t, (padding,) * 4, value=math.inf)
    cols = F.unfold(tp, 3, stride=stride).transpose(1, 2).reshape(-1, 27)
    ref = ttfs_dstd(cols, w.abs().flatten(1), 2.0, -2.0, 5, 0.03)
    torch.testing.assert_close(tt, ref.reshape(2, ho, ho, 4).permute(0, 3, 1, 2))


def test_float32_matches_float64(rng) -> None:
    t, w = _setup(rng, b=16)
    v64 = rcspike_dstd(t, w, 2.0, -2.0, 10, 0.0)
    v32 = rcspike_dstd(t.float(), w.float(), 2.0, -2.0, 10, 0.0)
    torch.testing.assert_close(v32.double(), v64, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"steps": 0}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"e_pos": -1.0}, "e_pos"),
        ({"e_neg": 0.0}, "e_neg"),
        ({"offset": 0.5}, "offset"),
        ({"t_in": torch.tensor([[0.1, float("nan")]])}, "t_in"),
        ({"weight": torch.rand(3, 4)}, "N_in"),
    ],
)
def test_bad_input_names_the_argument(kwargs: dict, word: str) -> None:
    args = {"t_in": torch.rand(2, 2), "weight": torch.rand(3, 2), "e_pos": 2.0, "e_neg": -2.0, "steps": 4, **kwargs}
    with pytest.raises(ValueError, match=word):
        rcspike_dstd(**args)
    with pytest.raises(ValueError, match=word):
        ttfs_dstd(**{**args, "t_max": 1.0})


def test_conv_shape_mismatch_is_rejected() -> None:
    with pytest.raises(ValueError, match="channels"):
        rcspike_dstd_conv2d(torch.rand(1, 2, 4, 4), torch.rand(3, 3, 3, 3), 2.0, -2.0, 4)
