"""Fused DSTD kernels (pnnlib.core.kernels): the same function and gradients as the reference code.

On a machine without CUDA the Triton kernels run in Triton's interpreter on CPU tensors
(``TRITON_INTERPRET=1``, set by conftest.py); with CUDA the same tests also run them compiled.
"""

import logging
import math

import pytest
import torch

from pnnlib.core import dstd, dstd_group, kernels
from pnnlib.nn.group import GroupNetwork
from pnnlib.nn.networks import mlp, vgg7
from pnnlib.train import TrainConfig, train

pytest.importorskip("triton")

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _grads(fn, *xs):
    xs = [x.clone().requires_grad_() for x in xs]
    out = fn(*xs)
    weights = torch.linspace(0.5, 1.5, out.numel(), device=out.device, dtype=out.dtype).view_as(out)
    (out * weights).sum().backward()
    return [out.detach()] + [x.grad for x in xs]


def _close(a: torch.Tensor, b: torch.Tensor, rel: float = 2e-6) -> bool:
    return bool(torch.allclose(a.double(), b.double(), rtol=rel, atol=rel * float(b.abs().max())))


@pytest.mark.parametrize("device", DEVICES)
def test_fused_end_potential_equals_the_reference_in_value_and_gradient(device: str) -> None:
    g = torch.Generator().manual_seed(0)
    a, k, c, d = 5, 12, 2, 37
    # -x spans the series region of ψ (|x| < 1/2), the closed form and large x; G of both signs
    nx = -torch.cat(
        [torch.rand(a, k, c, 1, d // 2, generator=g) * 0.6, torch.rand(a, k, c, 1, d - d // 2, generator=g) * 30], 4
    )
    nx[0, 0, 0, 0, :3] = 0.0
    xg = torch.cat([nx, torch.randn(a, k, c, 1, d, generator=g)], 3).to(device)
    ref64 = _grads(lambda x: dstd.end_potential(x), xg.double())
    ref = _grads(lambda x: dstd.end_potential(x), xg)
    fused = _grads(lambda x: dstd.end_potential(x, "triton"), xg)
    for r64, r, f in zip(ref64, ref, fused):
        assert _close(f, r, 1e-5)
        # both near the float64 result; the fused ψ' (series below |x| = 1/2) is the closer of the two
        assert _close(f, r64, 1e-6) and _close(r, r64, 1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_fused_spike_variables_equal_the_reference_exactly(device: str) -> None:
    g = torch.Generator().manual_seed(1)
    grid = dstd.dstd_grid(5, None, generator=g).to(device)
    t = torch.rand(6, 40, generator=g) * 1.4 - 0.2
    t[0, :7] = grid  # on the grid points: the interval T_m < t <= T_{m+1} decides the gradient
    t[1, :4] = torch.tensor([0.0, 1.0, math.inf, 1.5])
    t = t.clamp(min=0.0).to(device)
    ref = _grads(lambda t: dstd.spike_variables_times_width(t, grid), t)
    fused = _grads(lambda t: dstd.spike_variables_times_width(t, grid, "triton"), t)
    assert all(torch.equal(r, f) for r, f in zip(ref, fused))
    assert float(ref[1].abs().sum()) > 0


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("conv", [False, True])
def test_fused_kernels_in_the_layers_and_groups_equal_the_reference(device: str, conv: bool) -> None:
    g = torch.Generator().manual_seed(2)
    e_pos, e_neg, offsets = [4.0, 2.0, 1.0], [-4.0, -2.0, -1.5], [None, 0.0, None]
    if conv:
        t = torch.rand(3, 3 * 4, 6, 6, generator=g).to(device)
        w = (torch.randn(3, 5, 4, 3, 3, generator=g) * 0.3).to(device)
        fn, kw = dstd_group.rcspike_dstd_conv2d_group, {"padding": 1}
    else:
        t = torch.rand(3, 4, 30, generator=g).to(device)
        w = (torch.randn(3, 20, 30, generator=g) * 0.3).to(device)
        fn, kw = dstd_group.rcspike_dstd_group, {}

    def run(kernel: str):
        gens = [torch.Generator(device=device).manual_seed(s) for s in range(3)]
        return _grads(lambda t, w: fn(t, w, e_pos, e_neg, 6, offsets, gens, kernel=kernel, **kw), t, w)

    for r, f in zip(run("reference"), run("triton")):
        assert _close(f, r, 1e-5)

    def alone(kernel: str):
        if conv:
            return _grads(
                lambda t, w: dstd.rcspike_dstd_conv2d(t, w, 2.0, -1.5, 6, 0.03, padding=1, kernel=kernel),
                t[:, :4],
                w[0],
            )
        return _grads(lambda t, w: dstd.rcspike_dstd(t, w, 2.0, -1.5, 6, 0.03, kernel=kernel), t[0], w[0])

    for r, f in zip(alone("reference"), alone("triton")):
        assert _close(f, r, 1e-5)


def test_a_short_training_run_with_fused_kernels_matches_the_reference(tmp_path) -> None:
    base = dict(
        hidden=[32],
        train_subset=200,
        test_subset=100,
        steps=4,
        eval_steps=6,
        n_eval=1,
        epochs=1,
        lr=1e-3,
        hist_samples=50,
        progress=False,
        num_threads=1,
    )
    ref = train(TrainConfig(**base), tmp_path / "ref")
    fused = train(TrainConfig(**base, kernel="triton"), tmp_path / "fused")
    for key in ("train_loss", "test_loss"):
        assert fused["history"][0][key] == pytest.approx(ref["history"][0][key], rel=1e-5)
    assert fused["final"]["loss"] == pytest.approx(ref["final"]["loss"], rel=1e-5)
    assert fused["config"]["kernel"] == "triton"


def test_the_kernel_setting_reaches_the_layers_and_falls_back_where_triton_cannot_run(monkeypatch, caplog) -> None:
    net = vgg7(width=0.0625, e_pos=2.0, kernel="triton")
    assert {layer.kernel for layer in net.spiking_layers()} == {"triton"}
    assert TrainConfig(kernel="triton").neuron_spec().kernel == "triton"
    with pytest.raises(ValueError, match="kernel"):
        TrainConfig(kernel="cuda")
    with pytest.raises(ValueError, match="DSTD kernel"):
        GroupNetwork([mlp((4, 3), e_pos=2.0), mlp((4, 3), e_pos=2.0, kernel="triton")])
    assert kernels.resolve_kernel("triton", torch.zeros(2, dtype=torch.float64)) == "reference"
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    kernels._warned.clear()
    with caplog.at_level(logging.WARNING, logger="pnnlib.core"):
        assert kernels.resolve_kernel("triton", torch.zeros(2)) == "reference"
    assert "TRITON_INTERPRET" in caplog.text
    with pytest.raises(ValueError, match="kernel must be one of"):
        kernels.resolve_kernel("compiled", torch.zeros(2))
