"""What the artifact refuses (issue 16): untrusted files and odd arguments.

One test per case: no code execution from a checkpoint, no corrupt dataset or cache accepted,
no silent wrong numbers from unchecked arguments, no resumed run with another config, no shell
injection through the pipeline's settings, no YAML bomb, no half-written files; every refusal
names the problem and the fix. See ``docs_what_the_code_trusts.md`` for the summary.

Everything here runs on small synthetic data in a few seconds; the only stand-in is a full disk
(simulated by making a write raise ENOSPC).
"""

from __future__ import annotations

import math

import pytest
import torch

from pnnlib.core import (
    rcspike_dstd,
    rcspike_dstd_conv2d,
    rcspike_exact,
    ttfs_dstd,
    ttfs_exact,
)
from pnnlib.nn import NeuronSpec
from pnnlib.nn.layers import RCSpikeLinear
from pnnlib.nn.networks import mlp, vgg7

# --------------------------------------------------------------------------- the functional core

T = torch.tensor([[0.1, 0.5, 0.9]])
W = torch.tensor([[0.5, -0.2, 0.8], [0.3, 0.3, 0.3]])


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_non_finite_weights_are_refused_by_every_solver(bad: float) -> None:
    w = W.clone()
    w[0, 1] = bad
    for solve in (lambda: rcspike_exact(T, w, 2.0, -2.0), lambda: ttfs_exact(T, w, 2.0, -2.0),
                  lambda: rcspike_dstd(T, w, 2.0, -2.0, 4), lambda: ttfs_dstd(T, w, 2.0, -2.0, 4)):
        with pytest.raises(ValueError, match="weight contains NaN or ±inf"):
            solve()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ttfs_dstd(T, W, 4.0, -4.0, 10, t_max=1e30), r"t_max must be a finite number in \(0, 10000\]"),
        (lambda: ttfs_dstd(T, W, 4.0, -4.0, 10, t_max=math.inf), "t_max must be a finite number"),
        (lambda: ttfs_dstd(T, W, 4.0, -4.0, 10, v_th=0.0), r"v_th .* must be a finite number > 0, got 0.0"),
        (lambda: ttfs_exact(T, W, 4.0, -4.0, v_th=-1.0), r"v_th .* must be a finite number > 0"),
        (lambda: rcspike_exact(T, W, 2.0, -2.0, t_end=math.nan), r"t_end must be a finite number in \[0, 10000\]"),
        (lambda: rcspike_exact(T, W, 2.0, -2.0, t_end=-1.0), "t_end must be a finite number"),
    ],
)
def test_window_and_threshold_arguments_are_checked_in_the_core(call, message: str) -> None:
    # before: t_max=1e30 returned a firing time of -2.3e28 and v_th=0 one of -0.299
    with pytest.raises(ValueError, match=message):
        call()


def test_integer_tensors_and_neurons_without_inputs_get_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"t_in must be a floating-point tensor .* got torch.int64.*\.float\(\)"):
        rcspike_exact(torch.tensor([[0, 1, 1]]), W, 2.0, -2.0)
    with pytest.raises(ValueError, match=r"weight must be a floating-point tensor, got torch.int64"):
        ttfs_dstd(T, torch.ones(2, 3, dtype=torch.long), 2.0, -2.0, 4)
    with pytest.raises(ValueError, match=r"same dtype"):
        rcspike_dstd(T.double(), W, 2.0, -2.0, 4)
    with pytest.raises(ValueError, match=r"no inputs \(N_in = 0"):
        rcspike_exact(torch.zeros(2, 0), torch.zeros(3, 0), 2.0, -2.0)
    with pytest.raises(ValueError, match=r"no inputs \(C·kh·kw = 0"):
        rcspike_dstd_conv2d(torch.zeros(1, 0, 4, 4), torch.zeros(2, 0, 3, 3), 2.0, -2.0, 4)
    with pytest.raises(ValueError, match="-inf, which is no spike time"):
        ttfs_exact(torch.tensor([[-math.inf, 0.5, 0.5]]), W, 2.0, -2.0)


def test_exact_and_dstd_agree_on_input_times_before_zero(rng) -> None:
    # A spike before t = 0 arrives at t = 0 in every solver (before: TTFS on t - 10 gave exact -9.25
    # but DSTD 0.32).
    w_ttfs = torch.rand(3, 6, generator=rng, dtype=torch.float64) * 1.5
    early = torch.rand(16, 6, generator=rng, dtype=torch.float64) - 10.0
    mixed = torch.rand(16, 6, generator=rng, dtype=torch.float64) * 1.5 - 0.5
    assert (mixed < 0).any() and (mixed > 0).any()
    for t in (early, mixed):
        exact = ttfs_exact(t, w_ttfs, 4.0, -4.0)
        assert torch.isfinite(exact).all() and exact.min() >= 0
        assert torch.equal(exact, ttfs_exact(t.clamp(min=0), w_ttfs, 4.0, -4.0))
        dstd = ttfs_dstd(t, w_ttfs, 4.0, -4.0, 400, 0.005, t_max=4.0)  # Δτ = 0.01
        torch.testing.assert_close(dstd, exact, atol=1e-3, rtol=0)
    w_rc = torch.randn(3, 6, generator=rng, dtype=torch.float64)
    exact = rcspike_exact(mixed, w_rc, 2.0, -2.0)
    assert torch.equal(exact, rcspike_exact(mixed.clamp(min=0), w_rc, 2.0, -2.0))
    torch.testing.assert_close(rcspike_dstd(mixed, w_rc, 2.0, -2.0, 200, 0.002), exact, atol=1e-4, rtol=0)


# --------------------------------------------------------------------------- layers and networks


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"eval_offset": "bogus"}, r"NeuronSpec.eval_offset: must be 'random' or 'fixed'"),
        ({"eval_steps": 0}, r"NeuronSpec.eval_steps: must be an int >= 1"),
        ({"steps": 2.5}, r"NeuronSpec.steps: must be an int >= 1"),
        ({"v_th": 0.0}, r"NeuronSpec.v_th .* > 0"),
        ({"t_max": 1e30}, r"NeuronSpec.t_max .* in \(0, 10000\]"),
        ({"t_max": math.nan}, r"NeuronSpec.t_max"),
        ({"e_neg": 1.0}, r"NeuronSpec.e_neg"),
        ({"sigma": math.inf}, r"NeuronSpec.sigma"),
    ],
)
def test_layer_settings_are_validated_once_in_the_neuron_spec(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NeuronSpec(**{"e_pos": 4.0, **changes})
    layer = RCSpikeLinear(3, 2, e_pos=4.0)
    name, value = next(iter(changes.items()))
    with pytest.raises(ValueError, match=message):
        setattr(layer, name, value)  # assigning a field revalidates it too


def test_nan_network_input_is_an_error_not_a_nan_output() -> None:
    net = mlp((3, 4, 2), e_pos=4.0)
    t = torch.tensor([[0.1, math.nan, 0.3]])
    with pytest.raises(ValueError, match="network input contains NaN"):
        net(t)
    with pytest.raises(ValueError, match="network input contains NaN"):
        net.forward_all(t)
    with pytest.raises(ValueError, match="network input must be a floating-point tensor"):
        net(torch.tensor([[0, 1, 1]], dtype=torch.uint8))
    assert torch.isfinite(net(torch.tensor([[0.1, math.inf, -0.3]]))).all()  # no spike, early spike: fine


@pytest.mark.parametrize("width", [-1, 0, math.nan, math.inf, True, "1"])
def test_vgg7_rejects_a_width_that_is_not_a_positive_number(width) -> None:
    with pytest.raises(ValueError, match=r"width must be a number in \(0, 1000\)"):
        vgg7(width=width, e_pos=4.0)
