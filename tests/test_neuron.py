"""Exact solvers against brute-force ODE integration and their limits (paper-spec §1.3–§1.7)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from pnnlib.core.neuron import (
    rcspike_exact,
    rcspike_fire_time,
    rcspike_ideal_fire_time,
    ttfs_exact,
)


def _coeffs(t: np.ndarray, w: np.ndarray, e_pos: float, e_neg: float, tt: float):
    beta = np.where(w >= 0, 1.0 / e_pos, 1.0 / e_neg)
    active = t <= tt
    return (beta * w * active).sum(1), (w * active).sum(1)


def _ode_v_end(t: np.ndarray, w: np.ndarray, e_pos: float, e_neg: float) -> np.ndarray:
    """Integrate dv/dt = -f v + g piecewise between input events with tight tolerances."""
    events = np.unique(np.concatenate([[0.0], np.clip(t, 0, 1), [1.0]]))
    v = np.zeros(w.shape[0])
    for a, b in zip(events[:-1], events[1:]):
        if b <= a:
            continue
        f, g = _coeffs(t, w, e_pos, e_neg, a)
        sol = solve_ivp(lambda _, y, f=f, g=g: -f * y + g, (a, b), v, rtol=1e-12, atol=1e-14)
        v = sol.y[:, -1]
    return v


def _ode_ttfs(t: np.ndarray, w: np.ndarray, e_pos: float, e_neg: float, v_th: float) -> np.ndarray:
    """First crossing of v_th per neuron, by event-located integration up to t = 20."""
    events = np.unique(np.concatenate([[0.0], t[np.isfinite(t)], [20.0]]))
    out = np.full(w.shape[0], np.inf)
    for i in range(w.shape[0]):
        v = np.zeros(1)
        for a, b in zip(events[:-1], events[1:]):
            f, g = _coeffs(t, w[i : i + 1], e_pos, e_neg, a)

            def cross(_, y):
                return y[0] - v_th

            cross.terminal, cross.direction = True, 1
            sol = solve_ivp(lambda _, y, f=f, g=g: -f * y + g, (a, b), v, rtol=1e-12, atol=1e-14, events=cross)
            if sol.t_events[0].size:
                out[i] = sol.t_events[0][0]
                break
            v = sol.y[:, -1]
    return out


@pytest.mark.parametrize("e", [1.0, 1.7, 4.0, 50.0])
@pytest.mark.parametrize("method", ["scan", "recursion"])
def test_rcspike_exact_matches_ode_integration(e: float, method: str, rng) -> None:
    t = torch.rand(3, 12, generator=rng, dtype=torch.float64)
    t[0, :3] = 2.0  # late inputs contribute nothing
    w = torch.randn(4, 12, generator=rng, dtype=torch.float64)  # mixed signs
    v = rcspike_exact(t, w, e, -e, method=method)
    for b in range(3):
        ref = _ode_v_end(t[b].numpy(), w.numpy(), e, -e)
        np.testing.assert_allclose(v[b].numpy(), ref, atol=1e-6)


def test_rcspike_exact_asymmetric_reversal_matches_ode(rng) -> None:
    t = torch.rand(2, 8, generator=rng, dtype=torch.float64)
    w = torch.randn(3, 8, generator=rng, dtype=torch.float64)
    v = rcspike_exact(t, w, 2.8, -1.53)
    for b in range(2):
        np.testing.assert_allclose(v[b].numpy(), _ode_v_end(t[b].numpy(), w.numpy(), 2.8, -1.53), atol=1e-6)


def test_rcspike_potential_stays_between_reversal_potentials(rng) -> None:
    t = torch.rand(64, 30, generator=rng, dtype=torch.float64) * 0.1
    w = 20 * torch.randn(5, 30, generator=rng, dtype=torch.float64)
    v = rcspike_exact(t, w, 1.5, -1.2)
    assert (v < 1.5).all() and (v > -1.2).all()


@pytest.mark.parametrize("e", [1.2, 2.0, 4.0, 31.6])
def test_ttfs_exact_matches_ode_integration(e: float, rng) -> None:
    t = torch.rand(3, 10, generator=rng, dtype=torch.float64)
    t[1, 4] = math.inf  # an input that never spikes
    w = torch.randn(6, 10, generator=rng, dtype=torch.float64) * 0.8 + 0.35
    out = ttfs_exact(t, w, e, -e)
    for b in range(3):
        ref = _ode_ttfs(t[b].numpy(), w.numpy(), e, -e, 1.0)
        assert np.array_equal(np.isinf(out[b].numpy()), np.isinf(ref))
        fin = np.isfinite(ref)
        np.testing.assert_allclose(out[b].numpy()[fin], ref[fin], atol=1e-6)
    assert torch.isfinite(out).any()  # the case must exercise real crossings


def test_ttfs_never_fires_when_reversal_below_threshold(rng) -> None:
    t = torch.rand(4, 10, generator=rng, dtype=torch.float64)
    w = torch.rand(3, 10, generator=rng, dtype=torch.float64) * 5
    assert torch.isinf(ttfs_exact(t, w, 0.9, -0.9)).all()


def test_ideal_limit_is_the_clipped_weighted_sum(rng) -> None:
    t = torch.rand(16, 20, generator=rng, dtype=torch.float64)
    w = torch.randn(7, 20, generator=rng, dtype=torch.float64) * 0.3
    t_out = rcspike_fire_time(rcspike_exact(t, w, 1e12, -1e12))
    torch.testing.assert_close(t_out, rcspike_ideal_fire_time(t, w), atol=1e-9, rtol=0)
    t_inf = rcspike_fire_time(rcspike_exact(t, w, math.inf, -math.inf))
    torch.testing.assert_close(t_inf, rcspike_ideal_fire_time(t, w), atol=1e-12, rtol=0)


def test_discharge_readout_matches_ramp_ode() -> None:
    """dv/dt = α(1 − βv) from v0 reaches 1 at the returned time (paper-spec §1.7)."""
    e_dis = 6.44
    beta = 1 / e_dis
    alpha = -math.log(1 - beta) / beta
    v0 = torch.tensor([-0.5, 0.0, 0.3, 0.9], dtype=torch.float64)
    t = rcspike_fire_time(v0, e_dis)
    for v_start, t_fire in zip(v0.tolist(), t.tolist()):
        v_at = (1 - (1 - beta * v_start) * math.exp(-alpha * beta * t_fire)) / beta
        assert v_at == pytest.approx(1.0, abs=1e-12) or t_fire == 1.0
    assert t[1].item() == pytest.approx(1.0)
    # β → 0 recovers clip(1 − v)
    torch.testing.assert_close(rcspike_fire_time(v0, 1e9), (1 - v0).clamp(0, 1), atol=1e-7, rtol=0)


def test_rcspike_exact_gradcheck(rng) -> None:
    t = torch.rand(2, 5, generator=rng, dtype=torch.float64).requires_grad_()
    w = torch.randn(3, 5, generator=rng, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: rcspike_exact(a, b, 1.5, -2.0), (t, w))


def test_no_nan_gradients_at_f_zero_and_window_edges() -> None:
    t = torch.tensor([[0.0, 1.0, 0.5, 3.0]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([[0.0, 0.4, 0.0, -0.3], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    v = rcspike_exact(t, w, 2.0, -2.0)
    v.sum().backward()
    assert torch.isfinite(t.grad).all() and torch.isfinite(w.grad).all()
    assert v[0, 1].item() == 0.0


def test_ttfs_gradients_are_finite(rng) -> None:
    t = torch.rand(3, 6, generator=rng, dtype=torch.float64)
    t[0, 0] = math.inf
    t.requires_grad_()
    w = (torch.rand(4, 6, generator=rng, dtype=torch.float64) + 0.2).requires_grad_()
    out = ttfs_exact(t, w, 3.0, -3.0)
    out[torch.isfinite(out)].sum().backward()
    assert torch.isfinite(t.grad).all() and torch.isfinite(w.grad).all()


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"t_in": torch.rand(2, 3), "weight": torch.rand(4, 5)}, "N_in"),
        ({"t_in": torch.tensor([[float("nan"), 0.1]]), "weight": torch.rand(1, 2)}, "t_in"),
        ({"t_in": torch.rand(2, 2), "weight": torch.rand(1, 2), "e_pos": 0.0}, "e_pos"),
        ({"t_in": torch.rand(2, 2), "weight": torch.rand(1, 2), "e_neg": 1.0}, "e_neg"),
        ({"t_in": torch.rand(2), "weight": torch.rand(1, 2)}, "t_in"),
    ],
)
def test_bad_input_names_the_argument(kwargs: dict, word: str) -> None:
    args = {"e_pos": 2.0, "e_neg": -2.0, **kwargs}
    with pytest.raises(ValueError, match=word):
        rcspike_exact(**args)
    with pytest.raises(ValueError, match=word):
        ttfs_exact(**args)


def test_bad_discharge_reversal_is_rejected() -> None:
    with pytest.raises(ValueError, match="e_dis"):
        rcspike_fire_time(torch.zeros(2), 0.5)
