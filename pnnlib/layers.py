r"""``nn.Module`` wrappers around the functional core: weights in, spike times out.

Every spiking layer maps input spike times to output spike times and holds:

* the reversal potentials ``e_pos`` (E⁺) and ``e_neg`` (E⁻; default ``-e_pos``, as in all the
  paper's ML experiments, paper-spec §1.2);
* the DSTD settings for training (``steps`` = M, ``offset`` = ``"random"`` or ``"fixed"``) and
  for evaluation (``eval_steps``, ``eval_offset``; paper Appendix E evaluates with a larger M);
* ``sigma``: the std of Gaussian noise added to the layer's output spike times in training
  **and** evaluation (paper-spec §3.3). [inferred] The noise is added after the readout's
  clip, modelling jitter of the physical spike; times may then leave [0, 1] slightly, which
  the next layer's DSTD handles (early times sit on the first grid point, late ones vanish);
* ``exact=True`` to use the exact event-based solvers instead of DSTD (small layers only).

Pooling on spike times is **min-time pooling** ([inferred], paper-spec §8 item 7): the
earliest spike of the window passes, i.e. max-pooling on x = 1 − t.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from pnnlib import dstd, neuron

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

OffsetMode = Literal["random", "fixed"]


def uniform_init_(weight: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    r"""RC-Spike initialisation (not given by the paper, paper-spec §3.4; our choice).

    :math:`w\sim U(-a, a)`, :math:`a = \text{gain}\sqrt{3/\text{fan\_in}}`, i.e. Var w = gain²/fan_in,
    so that in the ideal limit :math:`v=\sum_j w_{ij}x_j` has a spread of order the RMS input,
    independent of the layer width. Since :math:`|v|<|E|`, the same scale works for |E| from 1
    to 100.
    """
    fan_in = weight[0].numel()
    a = gain * math.sqrt(3.0 / fan_in)
    with torch.no_grad():
        return weight.uniform_(-a, a)


def ttfs_init_(
    weight: torch.Tensor, e_pos: float, n_layers: int, t_ref: float, w_star: float = 2.0
) -> torch.Tensor:
    r"""TTFS initialisation of paper-spec §3.4 (Appendix C).

    :math:`w\sim U(0, w_{max}/N)` with
    :math:`w_{max}=-\frac{4w^*L^2}{\beta t_{ref}^2}\ln(1-\beta)`, β = 1/|E| (β → 0 gives
    :math:`4w^*L^2/t_{ref}^2`). [open] Whether negative weights are drawn is not stated; we draw
    non-negative weights as the formula assumes.
    """
    if not abs(e_pos) > 1:
        raise ValueError(f"TTFS initialisation needs |E| > 1 (= V_th), got e_pos={e_pos}")
    n = weight[0].numel()
    beta = 1.0 / abs(e_pos)
    corr = 1.0 if beta == 0 else -math.log1p(-beta) / beta
    w_max = 4.0 * w_star * n_layers**2 / t_ref**2 * corr
    with torch.no_grad():
        return weight.uniform_(0.0, w_max / n)


def _check_layer_args(e_pos: float, e_neg: float, steps: int, offset: str, sigma: float) -> None:
    if not e_pos > 0:
        raise ValueError(f"e_pos must be > 0, got {e_pos}")
    if not e_neg < 0:
        raise ValueError(f"e_neg must be < 0, got {e_neg}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if offset not in ("random", "fixed"):
        raise ValueError(f"offset must be 'random' or 'fixed', got {offset!r}")
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")


class SpikingLayer(nn.Module):
    """Common state of the spiking layers: reversal potentials, DSTD settings, noise."""

    def __init__(
        self,
        e_pos: float,
        e_neg: float | None,
        steps: int,
        offset: OffsetMode,
        sigma: float,
        exact: bool,
        eval_steps: int | None,
        eval_offset: OffsetMode | None,
    ) -> None:
        super().__init__()
        e_neg = -e_pos if e_neg is None else e_neg
        _check_layer_args(e_pos, e_neg, steps, offset, sigma)
        self.e_pos, self.e_neg = float(e_pos), float(e_neg)
        self.steps, self.offset = steps, offset
        self.eval_steps = eval_steps
        self.eval_offset = eval_offset
        self.sigma = float(sigma)
        self.exact = exact

    def set_dstd(
        self,
        steps: int | None = None,
        offset: OffsetMode | None = None,
        eval_steps: int | None = None,
        eval_offset: OffsetMode | None = None,
    ) -> None:
        """Change the DSTD settings in place (``None`` keeps the current value)."""
        steps = self.steps if steps is None else steps
        offset = self.offset if offset is None else offset
        _check_layer_args(self.e_pos, self.e_neg, steps, offset, self.sigma)
        self.steps, self.offset = steps, offset
        if eval_steps is not None:
            _check_layer_args(self.e_pos, self.e_neg, eval_steps, offset, self.sigma)
            self.eval_steps = eval_steps
        if eval_offset is not None:
            _check_layer_args(self.e_pos, self.e_neg, 1, eval_offset, self.sigma)
            self.eval_offset = eval_offset

    def grid_args(self) -> tuple[int, float | None]:
        """(M, offset) for the current mode: ``None`` offset = random, ``0.0`` = fixed grid."""
        if self.training or self.eval_steps is None:
            steps = self.steps
        else:
            steps = self.eval_steps
        mode = self.offset if (self.training or self.eval_offset is None) else self.eval_offset
        return steps, (None if mode == "random" else 0.0)

    def add_noise(self, t: torch.Tensor) -> torch.Tensor:
        """Gaussian spike-time noise σ (paper-spec §3.3), in training and evaluation."""
        if self.sigma == 0.0:
            return t
        return t + self.sigma * torch.randn_like(t)

    def extra_repr(self) -> str:
        return (
            f"e_pos={self.e_pos:g}, e_neg={self.e_neg:g}, steps={self.steps}, "
            f"offset={self.offset}, eval_steps={self.eval_steps}, sigma={self.sigma:g}, "
            f"exact={self.exact}"
        )


class RCSpikeLinear(SpikingLayer):
    r"""Fully connected RC-Spike layer (paper-spec §1.4): accumulation with reversal potentials
    (DSTD or exact), then the firing-phase readout :math:`t=\mathrm{clip}(1-v)` (or the
    discharge non-ideality with ``e_dis``, §1.7)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        e_pos: float,
        e_neg: float | None = None,
        steps: int = 10,
        offset: OffsetMode = "random",
        *,
        sigma: float = 0.0,
        e_dis: float | None = None,
        exact: bool = False,
        eval_steps: int | None = None,
        eval_offset: OffsetMode | None = None,
        init_gain: float = 1.0,
    ) -> None:
        super().__init__(e_pos, e_neg, steps, offset, sigma, exact, eval_steps, eval_offset)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.e_dis = e_dis
        uniform_init_(self.weight, init_gain)

    def membrane(self, t_in: torch.Tensor) -> torch.Tensor:
        """v(1) at the end of the accumulation window, ``[B, out_features]``."""
        if self.exact:
            return neuron.rcspike_exact(t_in, self.weight, self.e_pos, self.e_neg, check=False)
        steps, offset = self.grid_args()
        return dstd.rcspike_dstd(
            t_in, self.weight, self.e_pos, self.e_neg, steps, offset, check=False
        )

    def forward(self, t_in: torch.Tensor) -> torch.Tensor:
        v = self.membrane(t_in)
        return self.add_noise(neuron.rcspike_fire_time(v, self.e_dis))


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


class RCSpikeConv2d(SpikingLayer):
    r"""Convolutional RC-Spike layer: :math:`\tilde g=\mathrm{conv}(W,S_m)`,
    :math:`\tilde f=\mathrm{conv}(\beta\circ W,S_m)` (paper-spec §2.4), padding = "no spike"."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        e_pos: float,
        e_neg: float | None = None,
        steps: int = 10,
        offset: OffsetMode = "random",
        *,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        sigma: float = 0.0,
        e_dis: float | None = None,
        exact: bool = False,
        eval_steps: int | None = None,
        eval_offset: OffsetMode | None = None,
        init_gain: float = 1.0,
    ) -> None:
        super().__init__(e_pos, e_neg, steps, offset, sigma, exact, eval_steps, eval_offset)
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels, kernel_size, kernel_size)
        )
        self.stride, self.padding, self.e_dis = stride, padding, e_dis
        uniform_init_(self.weight, init_gain)

    def membrane(self, t_in: torch.Tensor) -> torch.Tensor:
        """v(1), ``[B, C_out, H', W']``."""
        if self.exact:
            k = self.weight.shape[2:]
            cols, (ho, wo) = _unfold_times(t_in, k, self.stride, self.padding, 1.0)
            v = neuron.rcspike_exact(
                cols, self.weight.flatten(1), self.e_pos, self.e_neg, check=False
            )
            return v.reshape(t_in.shape[0], ho, wo, -1).permute(0, 3, 1, 2)
        steps, offset = self.grid_args()
        return dstd.rcspike_dstd_conv2d(
            t_in, self.weight, self.e_pos, self.e_neg, steps, offset,
            stride=self.stride, padding=self.padding, check=False,
        )

    def forward(self, t_in: torch.Tensor) -> torch.Tensor:
        v = self.membrane(t_in)
        return self.add_noise(neuron.rcspike_fire_time(v, self.e_dis))


class TTFSLinear(SpikingLayer):
    """Fully connected TTFS layer (paper-spec §1.5): fires once at the first threshold crossing;
    ``+inf`` when it never fires. The DSTD grid spans ``[0, t_max]``."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        e_pos: float,
        e_neg: float | None = None,
        steps: int = 30,
        offset: OffsetMode = "random",
        *,
        t_max: float = 4.0,
        v_th: float = 1.0,
        sigma: float = 0.0,
        exact: bool = False,
        eval_steps: int | None = None,
        eval_offset: OffsetMode | None = None,
    ) -> None:
        super().__init__(e_pos, e_neg, steps, offset, sigma, exact, eval_steps, eval_offset)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.t_max, self.v_th = t_max, v_th
        uniform_init_(self.weight)

    def forward(self, t_in: torch.Tensor) -> torch.Tensor:
        if self.exact:
            t = neuron.ttfs_exact(t_in, self.weight, self.e_pos, self.e_neg, self.v_th, check=False)
        else:
            steps, offset = self.grid_args()
            t = dstd.ttfs_dstd(
                t_in, self.weight, self.e_pos, self.e_neg, steps, offset,
                self.t_max, self.v_th, check=False,
            )
        return self.add_noise(t)


class TTFSConv2d(SpikingLayer):
    """Convolutional TTFS layer (DSTD over ``[0, t_max]``, exact mode by unfolding)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        e_pos: float,
        e_neg: float | None = None,
        steps: int = 30,
        offset: OffsetMode = "random",
        *,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        t_max: float = 4.0,
        v_th: float = 1.0,
        sigma: float = 0.0,
        exact: bool = False,
        eval_steps: int | None = None,
        eval_offset: OffsetMode | None = None,
    ) -> None:
        super().__init__(e_pos, e_neg, steps, offset, sigma, exact, eval_steps, eval_offset)
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels, kernel_size, kernel_size)
        )
        self.stride, self.padding = stride, padding
        self.t_max, self.v_th = t_max, v_th
        uniform_init_(self.weight)

    def forward(self, t_in: torch.Tensor) -> torch.Tensor:
        if self.exact:
            k = self.weight.shape[2:]
            cols, (ho, wo) = _unfold_times(t_in, k, self.stride, self.padding, math.inf)
            t = neuron.ttfs_exact(
                cols, self.weight.flatten(1), self.e_pos, self.e_neg, self.v_th, check=False
            )
            t = t.reshape(t_in.shape[0], ho, wo, -1).permute(0, 3, 1, 2)
        else:
            steps, offset = self.grid_args()
            t = dstd.ttfs_dstd_conv2d(
                t_in, self.weight, self.e_pos, self.e_neg, steps, offset, self.t_max,
                self.v_th, stride=self.stride, padding=self.padding, check=False,
            )
        return self.add_noise(t)


class SpikeMinPool2d(nn.Module):
    """Min-time pooling: the earliest spike in each window passes (max-pooling on x = 1 − t)."""

    def __init__(self, kernel_size: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride or kernel_size

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return -F.max_pool2d(-t, self.kernel_size, self.stride)
