"""The paper's architectures (paper-spec §4) as :class:`SpikeNetwork` constructors.

All layers of a network share one :class:`~pnnlib.nn.spec.NeuronSpec`, given as ``spec`` or
built from keyword arguments (``e_pos``, ``e_neg``, ``steps``, ``offset``, ``sigma``,
``eval_steps``, ``eval_offset``, ``exact``, ``e_dis``; TTFS: ``t_max``, ``v_th``).
Inputs are spike times (``t = 1 − x`` for images, paper-spec §1.6); outputs are the last
layer's spike times, the earliest spike being the predicted class. [inferred] No biases or
bias spikes in the image networks (paper-spec §8 item 7); the Iris network gets a bias spike
at t = 0 as its fifth input (see :mod:`pnnlib.data`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from pnnlib.core.checks import check_spike_times
from pnnlib.nn.layers import (
    RCSpikeConv2d,
    RCSpikeLinear,
    SpikeMinPool2d,
    SpikingLayer,
    TTFSConv2d,
    TTFSLinear,
    ttfs_init_,
)
from pnnlib.nn.spec import NeuronSpec

__all__ = ["SpikeNetwork", "mlp", "vgg7", "ttfs_cnn", "iris_net"]


class SpikeNetwork(nn.Module):
    """A feed-forward stack of spiking layers (and pooling / flattening) on spike times.

    The network input is where outside data enter, so it is checked on every call (one pass over
    the batch, a small fraction of a layer's cost): NaN or −inf times are a ``ValueError`` rather
    than NaN outputs. Layers call the functional core unchecked; their settings were validated
    once by their :class:`~pnnlib.nn.spec.NeuronSpec`, and with a valid input and finite weights
    no layer produces NaN.
    """

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        check_spike_times(t, "network input")
        for layer in self.layers:
            t = layer(t)
        return t

    def forward_all(self, t: torch.Tensor) -> list[torch.Tensor]:
        """Output spike times of every spiking layer (for histograms such as paper Fig. 4d)."""
        check_spike_times(t, "network input")
        outs = []
        for layer in self.layers:
            t = layer(t)
            if isinstance(layer, SpikingLayer):
                outs.append(t)
        return outs

    def spiking_layers(self) -> Iterator[SpikingLayer]:
        """The layers that hold weights and neurons, in order."""
        return (m for m in self.layers if isinstance(m, SpikingLayer))

    def set_dstd(self, **kwargs: Any) -> None:
        """Set ``steps``/``offset``/``eval_steps``/``eval_offset`` on every spiking layer."""
        for layer in self.spiking_layers():
            layer.set_dstd(**kwargs)

    def set_generator(self, generator: torch.Generator | None) -> None:
        """Draw every spiking layer's DSTD offsets and spike noise from ``generator`` (``None``:
        torch's default generator of the device)."""
        for layer in self.spiking_layers():
            layer.generator = generator

    def set_reversal(self, e_pos: float, e_neg: float | None = None) -> None:
        """Test a trained network at other reversal potentials (the "ANN" baseline, §4)."""
        for layer in self.spiking_layers():
            layer.spec = layer.spec.replace(e_pos=float(e_pos), e_neg=None if e_neg is None else float(e_neg))


def _network_spec(spec: NeuronSpec | None, neuron: dict[str, Any], **defaults: Any) -> NeuronSpec:
    if spec is not None:
        if neuron:
            raise ValueError(f"give either a NeuronSpec or neuron keyword arguments, not both (got {sorted(neuron)})")
        return spec
    return NeuronSpec(**{**defaults, **neuron})


def mlp(
    sizes: tuple[int, ...] = (784, 400, 400, 10),
    spec: NeuronSpec | None = None,
    *,
    init_gain: float = 1.0,
    init_generator: torch.Generator | None = None,
    **neuron: Any,
) -> SpikeNetwork:
    """RC-Spike MLP, 784-400-400-10 for Fashion-MNIST (paper-spec §4); initial weights drawn from
    ``init_generator`` (``None``: torch's default generator)."""
    if len(sizes) < 2 or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes):
        raise ValueError(f"sizes must be at least an input and an output size, all ints >= 1, got {sizes}")
    spec = _network_spec(spec, neuron)
    return SpikeNetwork(
        [
            RCSpikeLinear(a, b, spec, init_gain=init_gain, init_generator=init_generator)
            for a, b in zip(sizes[:-1], sizes[1:])
        ]
    )


def vgg7(
    in_channels: int = 3,
    n_classes: int = 10,
    input_size: int = 32,
    width: float = 1.0,
    spec: NeuronSpec | None = None,
    *,
    init_gain: float = 1.0,
    init_generator: torch.Generator | None = None,
    **neuron: Any,
) -> SpikeNetwork:
    """RC-Spike VGG7: Conv64-Conv64-PL-Conv128-Conv128-PL-Conv256-Conv256-PL-512-10.

    3×3 convolutions, stride 1, padding 1 ([inferred]); 2×2 min-time pooling, stride 2.
    ``width=2`` doubles every channel count and the FC layer (1024, [inferred]); fractional
    widths give the narrow variants used by the ``quick`` profile. Initial weights are drawn from
    ``init_generator`` (``None``: torch's default generator).
    """
    if isinstance(width, bool) or not isinstance(width, int | float) or not 0 < width < 1e3:
        raise ValueError(f"width must be a number in (0, 1000), got {width!r}")
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 8:
        raise ValueError(f"input_size must be an int >= 8 (three 2x2 poolings), got {input_size!r}")
    spec = _network_spec(spec, neuron)
    chans = [max(1, round(c * width)) for c in (64, 128, 256)]
    fc = max(1, round(512 * width))
    layers: list[nn.Module] = []
    c_in, size = in_channels, input_size
    init = dict(init_gain=init_gain, init_generator=init_generator)
    for c in chans:
        layers += [RCSpikeConv2d(c_in, c, spec, **init), RCSpikeConv2d(c, c, spec, **init)]
        layers.append(SpikeMinPool2d(2))
        c_in, size = c, size // 2
    layers += [
        nn.Flatten(),
        RCSpikeLinear(c_in * size * size, fc, spec, **init),
        RCSpikeLinear(fc, n_classes, spec, **init),
    ]
    return SpikeNetwork(layers)


def ttfs_cnn(
    in_channels: int = 1,
    n_classes: int = 10,
    input_size: int = 28,
    spec: NeuronSpec | None = None,
    *,
    t_ref: float = 3.2,
    init_generator: torch.Generator | None = None,
    **neuron: Any,
) -> SpikeNetwork:
    """TTFS small CNN: Conv16-Conv16-PL-Conv32-Conv32-PL-128-10 (paper-spec §4, Appendix C),
    initialised by the E-dependent rule of paper-spec §3.4 (``ttfs_init_``; default M = 30), from
    ``init_generator`` (``None``: torch's default generator)."""
    spec = _network_spec(spec, neuron, e_pos=4.0, steps=30)
    g = init_generator
    layers: list[nn.Module] = []
    c_in, size = in_channels, input_size
    for c in (16, 32):
        layers += [
            TTFSConv2d(c_in, c, spec, init_generator=g),
            TTFSConv2d(c, c, spec, init_generator=g),
            SpikeMinPool2d(2),
        ]
        c_in, size = c, size // 2
    layers += [
        nn.Flatten(),
        TTFSLinear(c_in * size * size, 128, spec, init_generator=g),
        TTFSLinear(128, n_classes, spec, init_generator=g),
    ]
    net = SpikeNetwork(layers)
    spiking = list(net.spiking_layers())
    for layer in spiking:
        ttfs_init_(layer.weight, spec.e_pos, len(spiking), t_ref, generator=g)
    return net


def iris_net(
    hidden: int = 5,
    outputs: int = 5,
    spec: NeuronSpec | None = None,
    *,
    init_gain: float = 1.0,
    init_generator: torch.Generator | None = None,
    **neuron: Any,
) -> SpikeNetwork:
    """The circuit's 5-5-5 RC-Spike network (4 Iris features + a bias spike, paper-spec §6).

    Give ``e_dis`` for the discharge non-ideality of the firing phase (§1.7).
    """
    return mlp((5, hidden, outputs), spec, init_gain=init_gain, init_generator=init_generator, **neuron)
