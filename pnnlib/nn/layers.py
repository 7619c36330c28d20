r"""``nn.Module`` wrappers around the functional core: weights in, spike times out.

Every spiking layer maps input spike times to output spike times and holds its weights and one
:class:`~pnnlib.nn.spec.NeuronSpec` (reversal potentials E±, the training and evaluation DSTD
grids, the spike-time noise σ, exact mode, E_dis or the TTFS window and threshold), validated
once; its fields read as layer attributes. A layer is a thin wrapper: ``forward`` calls the
functional core of :mod:`pnnlib.core` with the spec's values.

[inferred] The noise σ is added after the readout's clip, modelling jitter of the physical
spike (paper-spec §3.3); times may then leave [0, 1] slightly: the next layer's solvers count a
time before 0 as arriving at 0, and a late one as no spike.

Pooling on spike times is **min-time pooling** ([inferred], paper-spec §8 item 7): the
earliest spike of the window passes, i.e. max-pooling on x = 1 − t.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pnnlib.core import dstd, neuron
from pnnlib.nn.spec import NeuronSpec, OffsetMode

__all__ = [
    "RCSpikeLinear",
    "RCSpikeConv2d",
    "TTFSLinear",
    "TTFSConv2d",
    "SpikeMinPool2d",
    "SpikingLayer",
    "uniform_init_",
    "ttfs_init_",
]


def uniform_init_(weight: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""RC-Spike initialisation (not given by the paper, paper-spec §3.4; our choice).

    :math:`w\sim U(-a, a)`, :math:`a = \text{gain}\sqrt{3/\text{fan\_in}}`, i.e. Var w = gain²/fan_in,
    so that in the ideal limit :math:`v=\sum_j w_{ij}x_j` has a spread of order the RMS input,
    independent of the layer width. Since :math:`|v|<|E|`, the same scale works for |E| from 1
    to 100. Drawn from ``generator`` (``None``: torch's default generator).
    """
    fan_in = weight[0].numel()
    a = gain * math.sqrt(3.0 / fan_in)
    with torch.no_grad():
        return weight.uniform_(-a, a, generator=generator)


def ttfs_init_(
    weight: torch.Tensor,
    e_pos: float,
    n_layers: int,
    t_ref: float,
    w_star: float = 2.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""TTFS initialisation of paper-spec §3.4 (Appendix C).

    :math:`w\sim U(0, w_{max}/N)` with
    :math:`w_{max}=-\frac{4w^*L^2}{\beta t_{ref}^2}\ln(1-\beta)`, β = 1/|E| (β → 0 gives
    :math:`4w^*L^2/t_{ref}^2`). [open] Whether negative weights are drawn is not stated; we draw
    non-negative weights as the formula assumes. Drawn from ``generator`` (``None``: torch's default).
    """
    if not abs(e_pos) > 1:
        raise ValueError(f"TTFS initialisation needs |E| > 1 (= V_th), got e_pos={e_pos}")
    n = weight[0].numel()
    beta = 1.0 / abs(e_pos)
    corr = 1.0 if beta == 0 else -math.log1p(-beta) / beta
    w_max = 4.0 * w_star * n_layers**2 / t_ref**2 * corr
    with torch.no_grad():
        return weight.uniform_(0.0, w_max / n, generator=generator)


class _SpecField:
    """A layer attribute that reads one field of the layer's :class:`NeuronSpec`; assigning it
    replaces the spec by a validated copy (``layer.exact = True``, ``layer.sigma = 0.0``)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: SpikingLayer | None, objtype: type | None = None) -> Any:
        return self if obj is None else getattr(obj.spec, self.name)

    def __set__(self, obj: SpikingLayer, value: Any) -> None:
        obj.spec = obj.spec.replace(**{self.name: value})


class SpikingLayer(nn.Module):
    """A layer of spiking neurons: its weights and one :class:`NeuronSpec` (validated once).

    The spec's fields read as attributes (``layer.e_pos``, ``layer.steps``, …); assigning one
    replaces the spec by a validated copy. ``generator`` is where the layer draws its random DSTD
    offsets and spike-time noise (``None``: torch's default generator of the device); a training
    run sets one per run (:meth:`pnnlib.nn.networks.SpikeNetwork.set_generator`), so that runs
    sharing a process draw independent, reproducible streams.
    """

    e_pos = _SpecField()
    e_neg = _SpecField()
    steps = _SpecField()
    offset = _SpecField()
    eval_steps = _SpecField()
    eval_offset = _SpecField()
    sigma = _SpecField()
    exact = _SpecField()
    e_dis = _SpecField()
    t_max = _SpecField()
    v_th = _SpecField()
    kernel = _SpecField()

    def __init__(self, spec: NeuronSpec) -> None:
        super().__init__()
        if not isinstance(spec, NeuronSpec):
            raise ValueError(f"spec must be a NeuronSpec, got {type(spec).__name__}")
        self.spec = spec
        self.generator: torch.Generator | None = None

    def set_dstd(
        self,
        steps: int | None = None,
        offset: OffsetMode | None = None,
        eval_steps: int | None = None,
        eval_offset: OffsetMode | None = None,
    ) -> None:
        """Change the DSTD settings in place (``None`` keeps the current value)."""
        changes = dict(steps=steps, offset=offset, eval_steps=eval_steps, eval_offset=eval_offset)
        self.spec = self.spec.replace(**{k: v for k, v in changes.items() if v is not None})

    def grid_args(self) -> tuple[int, float | None]:
        """(M, offset) for the current mode: ``None`` offset = random, ``0.0`` = fixed grid."""
        return self.spec.grid_args(self.training)

    def window_end(self) -> float:
        """The latest spike time the layer outputs before noise: 1 for RC-Spike, whose readout
        clips t = clip(1 − v) to [0, 1] (paper-spec §1.4; a neuron that never fires reads 1)."""
        return 1.0

    def add_noise(self, t: torch.Tensor) -> torch.Tensor:
        """Gaussian spike-time noise σ (paper-spec §3.3), in training and evaluation."""
        if self.spec.sigma == 0.0:
            return t
        return t + self.spec.sigma * torch.randn(t.shape, dtype=t.dtype, device=t.device, generator=self.generator)

    def extra_repr(self) -> str:
        return repr(self.spec)


def _spec(spec: NeuronSpec | None, neuron: dict[str, Any], **defaults: Any) -> NeuronSpec:
    """The layer's spec: ``spec`` as given, or built from keyword arguments (not both)."""
    if spec is not None:
        if neuron:
            raise ValueError(f"give either a NeuronSpec or neuron keyword arguments, not both (got {sorted(neuron)})")
        return spec
    return NeuronSpec(**{**defaults, **neuron})


class RCSpikeLinear(SpikingLayer):
    r"""Fully connected RC-Spike layer (paper-spec §1.4): accumulation with reversal potentials
    (DSTD or exact), then the firing-phase readout :math:`t=\mathrm{clip}(1-v)` (or the
    discharge non-ideality with ``e_dis``, §1.7)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        spec: NeuronSpec | None = None,
        *,
        init_gain: float = 1.0,
        init_generator: torch.Generator | None = None,
        **neuron: Any,
    ) -> None:
        super().__init__(_spec(spec, neuron))
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        uniform_init_(self.weight, init_gain, init_generator)

    def membrane(self, t_in: torch.Tensor) -> torch.Tensor:
        """v(1) at the end of the accumulation window, ``[B, out_features]``."""
        s = self.spec
        if s.exact:
            return neuron.rcspike_exact(t_in, self.weight, s.e_pos, s.e_neg, check=False)
        steps, offset = self.grid_args()
        return dstd.rcspike_dstd(
            t_in, self.weight, s.e_pos, s.e_neg, steps, offset, check=False, generator=self.generator, kernel=s.kernel
        )

    def forward(self, t_in: torch.Tensor) -> torch.Tensor:
        return self.add_noise(neuron.rcspike_fire_time(self.membrane(t_in), self.spec.e_dis))


def _unfold_times(t: torch.Tensor, kernel: tuple[int, int], stride, padding, pad_value: float):
    """Patches of spike times for the exact conv path: ``[B*L, C*kh*kw]`` and the output size."""
    b, _, h, w = t.shape
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    tp = F.pad(t, (pw, pw, ph, ph), value=pad_value)
    cols = F.unfold(tp, kernel, stride=(sh, sw))  # [B, C*kh*kw, L]
    ho = (h + 2 * ph - kernel[0]) // sh + 1
    wo = (w + 2 * pw - kernel[1]) // sw + 1
    return cols.transpose(1, 2).reshape(b * ho * wo, -1), (ho, wo)


class _Conv(SpikingLayer):
    """Weights ``[C_out, C_in, k, k]``, stride and padding (padding = "no spike") of a conv layer."""

    def __init__(
        self, in_channels: int, out_channels: int, spec: NeuronSpec, kernel_size: int, stride: int, padding: int
    ) -> None:
        super().__init__(spec)
        for key, v in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("kernel_size", kernel_size),
            ("stride", stride),
        ):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{key} must be an int >= 1, got {v!r}")
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be an int >= 0, got {padding!r}")
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.stride, self.padding = stride, padding

    def exact_conv(self, t_in: torch.Tensor, solve, pad_value: float) -> torch.Tensor:
        """Apply a dense exact solver ``solve(cols, weight [C_out, C·k·k])`` to every patch."""
        cols, (ho, wo) = _unfold_times(t_in, self.weight.shape[2:], self.stride, self.padding, pad_value)
        return solve(cols, self.weight.flatten(1)).reshape(t_in.shape[0], ho, wo, -1).permute(0, 3, 1, 2)


class RCSpikeConv2d(_Conv):
    r"""Convolutional RC-Spike layer: :math:`\tilde g=\mathrm{conv}(W,S_m)`,
    :math:`\tilde f=\mathrm{conv}(\beta\circ W,S_m)` (paper-spec §2.4), padding = "no spike"."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        spec: NeuronSpec | None = None,
        *,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        init_gain: float = 1.0,
        init_generator: torch.Generator | None = None,
        **neuron: Any,
    ) -> None:
        super().__init__(in_channels, out_channels, _spec(spec, neuron), kernel_size, stride, padding)
        uniform_init_(self.weight, init_gain, init_generator)

    def membrane(self, t_in: torch.Tensor) -> torch.Tensor:
        """v(1), ``[B, C_out, H', W']``."""
        s = self.spec
        if s.exact:
            return self.exact_conv(t_in, lambda c, w: neuron.rcspike_exact(c, w, s.e_pos, s.e_neg, check=False), 1.0)
        steps, offset = self.grid_args()
        return dstd.rcspike_dstd_conv2d(
            t_in,
            self.weight,
            s.e_pos,
            s.e_neg,
            steps,
            offset,
            stride=self.stride,
            padding=self.padding,
            check=False,
            generator=self.generator,
            kernel=s.kernel,
        )

    def forward(self, t_in: torch.Tensor) -> torch.Tensor:
        return self.add_noise(neuron.rcspike_fire_time(self.membrane(t_in), self.spec.e_dis))


class TTFSLinear(SpikingLayer):
    """Fully connected TTFS layer (paper-spec §1.5): fires once at the first threshold crossing;
    ``+inf`` when it never fires. The DSTD grid spans ``[0, t_max]`` (default M = 30)."""

    def window_end(self) -> float:
        """``t_max``: the end of the DSTD window, the time a neuron that never fires (``+inf``) is
        read as by the loss (paper-spec §1.5)."""
        return float(self.t_max)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        spec: NeuronSpec | None = None,
        *,
        init_generator: torch.Generator | None = None,
        **neuron: Any,
    ) -> None:
        super().__init__(_spec(spec, neuron, steps=30))
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        uniform_init_(self.weight, generator=init_generator)

    def forward(self, t_in: torch.Tensor) -> torch.Tensor:
        s = self.spec
        if s.exact:
            t = neuron.ttfs_exact(t_in, self.weight, s.e_pos, s.e_neg, s.v_th, check=False)
        else:
            steps, offset = self.grid_args()
            t = dstd.ttfs_dstd(
                t_in,
                self.weight,
                s.e_pos,
                s.e_neg,
                steps,
                offset,
                s.t_max,
                s.v_th,
                check=False,
                generator=self.generator,
            )
        return self.add_noise(t)


class TTFSConv2d(_Conv):
    """Convolutional TTFS layer (DSTD over ``[0, t_max]``, exact mode by unfolding; default M = 30)."""

    def window_end(self) -> float:
        """``t_max``: the end of the DSTD window, the time a neuron that never fires (``+inf``) is
        read as by the loss (paper-spec §1.5)."""
        return float(self.t_max)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        spec: NeuronSpec | None = None,
        *,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        init_generator: torch.Generator | None = None,
        **neuron: Any,
    ) -> None:
        super().__init__(in_channels, out_channels, _spec(spec, neuron, steps=30), kernel_size, stride, padding)
        uniform_init_(self.weight, generator=init_generator)

    def forward(self, t_in: torch.Tensor) -> torch.Tensor:
        s = self.spec
        if s.exact:
            t = self.exact_conv(
                t_in, lambda c, w: neuron.ttfs_exact(c, w, s.e_pos, s.e_neg, s.v_th, check=False), math.inf
            )
        else:
            steps, offset = self.grid_args()
            t = dstd.ttfs_dstd_conv2d(
                t_in,
                self.weight,
                s.e_pos,
                s.e_neg,
                steps,
                offset,
                s.t_max,
                s.v_th,
                stride=self.stride,
                padding=self.padding,
                check=False,
                generator=self.generator,
            )
        return self.add_noise(t)


class SpikeMinPool2d(nn.Module):
    """Min-time pooling: the earliest spike in each window passes (max-pooling on x = 1 − t)."""

    def __init__(self, kernel_size: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride or kernel_size

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return -F.max_pool2d(-t, self.kernel_size, self.stride)
