"""Layers and the paper's architectures (paper-spec §3.3, §4)."""

from __future__ import annotations

import pytest
import torch

from pnnlib.nn.layers import RCSpikeConv2d, RCSpikeLinear, SpikeMinPool2d, TTFSConv2d, TTFSLinear
from pnnlib.nn.networks import iris_net, mlp, ttfs_cnn, vgg7


def test_linear_layer_dstd_agrees_with_its_exact_mode(rng) -> None:
    torch.manual_seed(0)
    layer = RCSpikeLinear(30, 6, e_pos=2.0, steps=60, offset="fixed").double()
    t = torch.rand(8, 30, generator=rng, dtype=torch.float64)
    dstd_out = layer(t)
    layer.exact = True
    torch.testing.assert_close(dstd_out, layer(t), atol=2e-3, rtol=0)


@pytest.mark.parametrize("cls", [RCSpikeConv2d, TTFSConv2d])
def test_conv_layer_dstd_agrees_with_exact_on_small_inputs(cls, rng) -> None:
    torch.manual_seed(0)
    layer = cls(2, 3, e_pos=3.0, steps=200, offset="fixed").double()
    if cls is TTFSConv2d:
        with torch.no_grad():
            layer.weight.abs_().mul_(2.0)
    t = torch.rand(2, 2, 5, 5, generator=rng, dtype=torch.float64)
    approx = layer(t)
    layer.exact = True
    exact = layer(t)
    assert torch.equal(torch.isfinite(approx), torch.isfinite(exact))
    fin = torch.isfinite(exact)
    assert fin.any()
    torch.testing.assert_close(approx[fin], exact[fin], atol=2e-3, rtol=0)


def test_eval_mode_uses_eval_steps_and_offset() -> None:
    layer = RCSpikeLinear(4, 2, e_pos=2.0, steps=3, offset="random", eval_steps=30, eval_offset="fixed")
    assert layer.grid_args()[0] == 3 and layer.grid_args()[1] is None
    layer.eval()
    assert layer.grid_args() == (30, 0.0)


def test_noise_is_applied_in_train_and_eval() -> None:
    torch.manual_seed(0)
    layer = RCSpikeLinear(4, 3, e_pos=2.0, steps=5, offset="fixed", sigma=0.05)
    t = torch.rand(100, 4)
    for mode in (layer.train, layer.eval):
        mode()
        assert not torch.equal(layer(t), layer(t))
    layer.sigma = 0.0
    assert torch.equal(layer(t), layer(t))


def test_min_pool_passes_the_earliest_spike() -> None:
    t = torch.tensor([[[[0.9, 0.2], [0.5, float("inf")]]]])
    assert SpikeMinPool2d(2)(t).item() == pytest.approx(0.2)


def test_paper_architectures_have_the_paper_shapes() -> None:
    kw = {"e_pos": 4.0, "steps": 3}
    assert mlp(**kw)(torch.rand(2, 784)).shape == (2, 10)
    assert [tuple(p.shape) for p in mlp(**kw).parameters()] == [(400, 784), (400, 400), (10, 400)]
    v = vgg7(**kw)
    assert v(torch.rand(1, 3, 32, 32)).shape == (1, 10)
    assert [p.shape[0] for p in v.parameters()] == [64, 64, 128, 128, 256, 256, 512, 10]
    assert [p.shape[0] for p in vgg7(width=2, **kw).parameters()][-2] == 1024
    assert vgg7(in_channels=1, input_size=28, width=0.25, **kw)(torch.rand(1, 1, 28, 28)).shape == (1, 10)
    c = ttfs_cnn(e_pos=4.0, steps=10)
    assert c(torch.rand(1, 1, 28, 28)).shape == (1, 10)
    assert [p.shape[0] for p in c.parameters()] == [16, 16, 32, 32, 128, 10]
    assert all((p >= 0).all() for p in c.parameters())
    assert iris_net(e_pos=2.8, e_neg=-1.53, e_dis=6.44, steps=10)(torch.rand(3, 5)).shape == (3, 5)


def test_set_reversal_and_set_dstd_reach_every_layer() -> None:
    net = mlp((5, 4, 3), e_pos=100.0, steps=3)
    net.set_reversal(2.0)
    net.set_dstd(steps=7, eval_steps=30)
    assert all(layer.e_pos == 2.0 and layer.e_neg == -2.0 for layer in net.spiking_layers())
    assert all(layer.steps == 7 and layer.eval_steps == 30 for layer in net.spiking_layers())
    assert len(net.forward_all(torch.rand(2, 5))) == 2


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"e_pos": 0.0}, "e_pos"),
        ({"e_pos": 2.0, "e_neg": 1.0}, "e_neg"),
        ({"e_pos": 2.0, "steps": 0}, "steps"),
        ({"e_pos": 2.0, "offset": "sometimes"}, "offset"),
        ({"e_pos": 2.0, "sigma": -0.1}, "sigma"),
    ],
)
def test_bad_layer_settings_are_rejected(kwargs: dict, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        RCSpikeLinear(3, 2, **kwargs)
    with pytest.raises(ValueError, match=word):
        TTFSLinear(3, 2, **kwargs)


def test_training_step_reduces_a_loss() -> None:
    torch.manual_seed(0)
    net = mlp((20, 16, 4), e_pos=2.0, steps=5)
    t = torch.rand(64, 20)
    target = torch.full((64, 4), 0.5)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    losses = []
    for _ in range(30):
        loss = ((net(t) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_layers_run_on_cuda() -> None:
    net = vgg7(e_pos=2.0, steps=4, width=0.25).cuda()
    out = net(torch.rand(2, 3, 32, 32, device="cuda"))
    out.sum().backward()
    assert out.device.type == "cuda"
