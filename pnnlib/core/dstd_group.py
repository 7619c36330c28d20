r"""DSTD for a *group* of G independent runs of one architecture, computed as one stacked network
(paper-spec §2.4, Eqs. 36–44, for every run at once; :mod:`pnnlib.train.group` trains with it).

The runs share the layer sizes and M but not the weights, the reversal potentials E±, the offset
mode nor the random offsets: run g has its own grid :math:`T^{(g)}_m = m\Delta\tau - t^{(g)}_{offset}`,
its offset drawn from its own generator (Algorithms 3–4: one offset per layer per mini-batch, per
run). Each run computes what :mod:`pnnlib.core.dstd` computes for it alone, with the same
elementwise operations; only the products are batched:

* dense layers: activations ``[G, B, N]``; the coefficients :math:`[\tilde f;\tilde g]` of every
  run and grid point are one batched matmul (``bmm`` of ``[G, B·K, N_in]`` by
  ``[G, N_in, 2 N_out]``);
* conv layers: activations ``[B, G·C, H, W]`` (the runs side by side on the channel axis); the
  coefficients are one *grouped* ``conv2d`` (``groups=G``) over ``[B·K, G·C_in, H, W]``.

Grids: K + 1 = M + 2 points when any run has a positive offset, else M + 1. A run with offset 0
in a group whose other runs have a random offset gets its last point doubled, i.e. one interval
of width 0 at the window end: its spike variables there are 0 and the exact step over it is
:math:`\tilde v e^{0}+0\cdot\psi(0)=\tilde v`, so the run computes what it computes alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from pnnlib.core.dstd import _spike_variables, _ttfs_crossing, end_potential
from pnnlib.core.kernels import resolve_kernel, spike_variables_triton

__all__ = [
    "group_beta_weight",
    "run_constant",
    "group_grid",
    "rcspike_dstd_conv2d_group",
    "rcspike_dstd_group",
    "ttfs_dstd_conv2d_group",
    "ttfs_dstd_group",
]


_CONSTANTS: dict[tuple[Any, ...], torch.Tensor] = {}


def run_constant(values: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    """``[G]`` tensor of per-run settings (E±, σ, τ_soft, …) on ``like``'s device and dtype, made once
    and reused: no host-to-device copy per step (which a captured CUDA graph could not replay)."""
    key = (tuple(float(v) for v in values), like.dtype, like.device)
    if key not in _CONSTANTS:
        _CONSTANTS[key] = torch.tensor(key[0], dtype=like.dtype, device=like.device)
    return _CONSTANTS[key]


def group_grid(
    steps: int,
    offsets: Sequence[float | None],
    t_max: float = 1.0,
    *,
    generators: Sequence[torch.Generator | None],
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    r"""The grids of G runs, ``[G, K + 1]`` (see the module docstring).

    ``offsets[g]``: ``None`` draws :math:`t_{offset}\sim U(0,\Delta\tau)` from ``generators[g]``
    exactly as :func:`pnnlib.core.dstd.dstd_grid` does (the same numbers, one draw per random run
    and none for the others), a float fixes it.
    """
    if len(offsets) != len(generators):
        raise ValueError(f"{len(offsets)} offsets but {len(generators)} generators")
    dt = t_max / steps
    m = torch.linspace(0.0, t_max, steps + 1, device=device, dtype=dtype)
    u = [torch.rand((), device=device, dtype=dtype, generator=gen) for o, gen in zip(offsets, generators) if o is None]
    drawn = iter((torch.stack(u) * (1 - 2e-6) + 1e-6) * dt) if u else iter(())
    o = torch.stack([next(drawn) if off is None else m.new_full((), float(off)) for off in offsets])
    grid = m - o[:, None]
    if all(off is not None and float(off) == 0.0 for off in offsets):
        return grid
    return torch.cat([grid, grid.new_full((len(offsets), 1), t_max)], 1)


def group_beta_weight(weight: torch.Tensor, e_pos: Sequence[float], e_neg: Sequence[float]) -> torch.Tensor:
    r""":math:`\beta\circ W` of every run, ``weight`` ``[G, ...]``: ``w/E⁺_g`` where ``w ≥ 0``,
    ``w/E⁻_g`` else (as :func:`pnnlib.core.neuron.beta_weight` per run)."""
    shape = (len(e_pos),) + (1,) * (weight.dim() - 1)
    ep = run_constant(e_pos, weight).view(shape)
    if all(float(n) == -float(p) for p, n in zip(e_pos, e_neg)):
        return weight.abs() / ep
    en = run_constant(e_neg, weight).view(shape)
    return torch.where(weight >= 0, weight / ep, weight / en)


def _grid_view(x: torch.Tensor, gdim: int, kdim: int, ndim: int) -> torch.Tensor:
    """``x`` ``[G, K]`` shaped to broadcast against a ``ndim``-dimensional tensor whose run axis is
    ``gdim`` and grid axis ``kdim``."""
    shape = [1] * ndim
    shape[gdim], shape[kdim] = x.shape
    return (x if gdim < kdim else x.t()).reshape(shape)


class _GroupSpikeVariablesTimesWidth(torch.autograd.Function):
    r""":math:`\Delta_m S_m(t)=\mathrm{clip}(T_{m+1}-t,0,\Delta_m)` of every run (its own grid), the
    group form of :class:`pnnlib.core.dstd._SpikeVariablesTimesWidth`: ``t`` has its run axis at
    ``gdim``; the grid axis of size K is inserted at ``kdim``. The backward picks, per input, the
    one interval :math:`T_m<t\le T_{m+1}` of its run's grid (``searchsorted`` per run)."""

    @staticmethod
    def forward(ctx, t: torch.Tensor, grid: torch.Tensor, gdim: int, kdim: int) -> torch.Tensor:
        ndim = t.dim() + 1
        out_gdim = gdim + (kdim <= gdim)
        hi = _grid_view(grid[:, 1:], out_gdim, kdim, ndim)
        width = _grid_view(grid[:, 1:] - grid[:, :-1], out_gdim, kdim, ndim)
        ctx.save_for_backward(t, grid)
        ctx.gdim, ctx.kdim = gdim, kdim
        t_k = t.unsqueeze(kdim)
        s = t.new_empty(torch.broadcast_shapes(hi.shape, t_k.shape))  # contiguous, whatever t's strides
        torch.sub(hi, t_k, out=s)
        return s.clamp_(min=torch.zeros((), dtype=t.dtype, device=t.device), max=width)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_s: torch.Tensor) -> tuple[torch.Tensor | None, None, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        t, grid = ctx.saved_tensors
        tg = t.movedim(ctx.gdim, 0)
        m = torch.searchsorted(grid, tg.reshape(grid.shape[0], -1)) - 1  # T_m < t <= T_{m+1}
        m = m.reshape(tg.shape).movedim(0, ctx.gdim)
        k = grad_s.shape[ctx.kdim]
        inside = (m >= 0) & (m < k)
        picked = grad_s.gather(ctx.kdim, m.clamp(0, k - 1).unsqueeze(ctx.kdim)).squeeze(ctx.kdim)
        return torch.where(inside, -picked, torch.zeros_like(picked)), None, None, None


def _group_spike_variables(t: torch.Tensor, grid: torch.Tensor, layout: str, kernel: str) -> torch.Tensor:
    r""":math:`\Delta_m S_m(t)` of every run: ``layout`` ``"dense"`` (``t`` ``[G, B, N]`` →
    ``[G, B, K, N]``) or ``"conv"`` (``t`` ``[B, G, Q]`` → ``[B, K, G, Q]``)."""
    if resolve_kernel(kernel, t) == "triton":
        if layout == "dense":
            g, b, n = t.shape
            return spike_variables_triton(t.reshape(g * b, n), grid, b, n).view(g, b, -1, n)
        b, g, q = t.shape
        return spike_variables_triton(t.reshape(b, g * q), grid, b, q).view(b, -1, g, q)
    gdim, kdim = (0, 2) if layout == "dense" else (1, 1)
    return _GroupSpikeVariablesTimesWidth.apply(t, grid, gdim, kdim)


def _check_group(
    weight: torch.Tensor,
    e_pos: Sequence[float],
    e_neg: Sequence[float],
    offsets: Sequence[float | None],
    generators: Sequence[torch.Generator | None],
) -> int:
    g = weight.shape[0]
    for name, seq in (("e_pos", e_pos), ("e_neg", e_neg), ("offsets", offsets), ("generators", generators)):
        if len(seq) != g:
            raise ValueError(f"{name} has {len(seq)} entries for a group of {g} runs (weight {tuple(weight.shape)})")
    return g


def rcspike_dstd_group(
    t_in: torch.Tensor,
    weight: torch.Tensor,
    e_pos: Sequence[float],
    e_neg: Sequence[float],
    steps: int,
    offsets: Sequence[float | None],
    generators: Sequence[torch.Generator | None],
    *,
    kernel: str = "reference",
) -> torch.Tensor:
    r""":func:`pnnlib.core.dstd.rcspike_dstd` of G runs: ``t_in`` ``[G, B, N_in]``, ``weight``
    ``[G, N_out, N_in]``, per-run E⁺, E⁻, offsets and generators; returns ``[G, B, N_out]``.
    ``kernel``: implementation of the elementwise part (:mod:`pnnlib.core.kernels`)."""
    g = _check_group(weight, e_pos, e_neg, offsets, generators)
    grid = group_grid(steps, offsets, 1.0, generators=generators, device=t_in.device, dtype=t_in.dtype)
    s_dt = _group_spike_variables(t_in.clamp(min=0.0), grid, "dense", kernel)  # [G, B, K, N_in]
    b, k = s_dt.shape[1:3]
    w_all = torch.cat([-group_beta_weight(weight, e_pos, e_neg), weight], 1)  # [G, 2 N_out, N_in]
    xg = torch.bmm(s_dt.view(g, b * k, -1), w_all.transpose(1, 2))  # [G, B·K, 2 N_out]: -f̃Δ, g̃Δ
    return end_potential(xg.view(g * b, k, 1, 2, -1), kernel).view(g, b, -1)


def _grouped_conv_weight(weight: torch.Tensor, bw: torch.Tensor) -> torch.Tensor:
    """``[G·2 C_out, C_in, kh, kw]``: per run ``[β∘W; W]`` (or ``[-β∘W; W]``), the filters of a
    grouped conv2d."""
    return torch.cat([bw, weight], 1).flatten(0, 1)


def rcspike_dstd_conv2d_group(
    t_in: torch.Tensor,
    weight: torch.Tensor,
    e_pos: Sequence[float],
    e_neg: Sequence[float],
    steps: int,
    offsets: Sequence[float | None],
    generators: Sequence[torch.Generator | None],
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    kernel: str = "reference",
) -> torch.Tensor:
    r""":func:`pnnlib.core.dstd.rcspike_dstd_conv2d` of G runs: ``t_in`` ``[B, G·C_in, H, W]``,
    ``weight`` ``[G, C_out, C_in, kh, kw]``; returns ``[B, G·C_out, H', W']``. The K grid points are
    folded into the batch of one grouped ``conv2d``."""
    g = _check_group(weight, e_pos, e_neg, offsets, generators)
    grid = group_grid(steps, offsets, 1.0, generators=generators, device=t_in.device, dtype=t_in.dtype)
    b, gc, h, w = t_in.shape
    s_dt = _group_spike_variables(t_in.clamp(min=0.0).view(b, g, -1), grid, "conv", kernel)  # [B, K, G, C·H·W]
    k = s_dt.shape[1]
    w_all = _grouped_conv_weight(weight, -group_beta_weight(weight, e_pos, e_neg))
    xg = F.conv2d(s_dt.view(b * k, gc, h, w), w_all, stride=stride, padding=padding, groups=g)
    ho, wo = xg.shape[2:]
    return end_potential(xg.view(b, k, g, 2, -1), kernel).view(b, -1, ho, wo)


def _ttfs_widths(grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Interval starts ``[G, K + 1]`` and widths ``[G, K + 1]`` (the last, open-ended one: ``inf``)."""
    inf = grid.new_full((grid.shape[0], 1), math.inf)
    return grid, torch.cat([grid[:, 1:] - grid[:, :-1], inf], 1)


def _ttfs_spikes(t_in: torch.Tensor, grid: torch.Tensor, t_max: float, gdim: int, kdim: int) -> torch.Tensor:
    """Spike variables :math:`S_m` on the K intervals of every run's grid and the all-arrived
    indicator of the open-ended interval after them, K + 1 entries on axis ``kdim``.

    The zero-width interval of a fixed-offset run in a mixed group (see the module docstring) gets a
    unit kernel width instead of 0/0: whatever its spike variables, an interval of width 0 changes
    no potential and holds no crossing, so it passes no gradient; a division by 0 would turn that
    zero gradient into NaN."""
    ndim = t_in.dim() + 1
    out_gdim = gdim + (kdim <= gdim)
    hi = _grid_view(grid[:, 1:], out_gdim, kdim, ndim)
    width = grid[:, 1:] - grid[:, :-1]
    width = _grid_view(torch.where(width > 0, width, torch.ones_like(width)), out_gdim, kdim, ndim)
    s = _spike_variables(t_in.unsqueeze(kdim), hi, width)
    s_all = (t_in <= t_max).to(t_in.dtype).unsqueeze(kdim)
    return torch.cat([s, s_all], kdim)


def ttfs_dstd_group(
    t_in: torch.Tensor,
    weight: torch.Tensor,
    e_pos: Sequence[float],
    e_neg: Sequence[float],
    steps: int,
    offsets: Sequence[float | None],
    generators: Sequence[torch.Generator | None],
    t_max: float = 4.0,
    v_th: float = 1.0,
) -> torch.Tensor:
    """:func:`pnnlib.core.dstd.ttfs_dstd` of G runs: ``t_in`` ``[G, B, N_in]``, ``weight``
    ``[G, N_out, N_in]``; returns ``[G, B, N_out]`` firing times (``+inf``: no spike)."""
    g = _check_group(weight, e_pos, e_neg, offsets, generators)
    grid = group_grid(steps, offsets, t_max, generators=generators, device=t_in.device, dtype=t_in.dtype)
    s = _ttfs_spikes(t_in.clamp(min=0.0), grid, t_max, 0, 2)  # [G, B, K+1, N_in]
    b, k1 = s.shape[1:3]
    w_all = torch.cat([group_beta_weight(weight, e_pos, e_neg), weight], 1)
    fg = torch.bmm(s.view(g, b * k1, -1), w_all.transpose(1, 2)).view(g, b, k1, 2, -1)
    starts, widths = (_grid_view(x, 0, 2, 4) for x in _ttfs_widths(grid))
    return _ttfs_crossing(fg[:, :, :, 0], fg[:, :, :, 1], starts, widths, v_th, dim=2)


def ttfs_dstd_conv2d_group(
    t_in: torch.Tensor,
    weight: torch.Tensor,
    e_pos: Sequence[float],
    e_neg: Sequence[float],
    steps: int,
    offsets: Sequence[float | None],
    generators: Sequence[torch.Generator | None],
    t_max: float = 4.0,
    v_th: float = 1.0,
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> torch.Tensor:
    """:func:`pnnlib.core.dstd.ttfs_dstd_conv2d` of G runs: ``t_in`` ``[B, G·C_in, H, W]``,
    ``weight`` ``[G, C_out, C_in, kh, kw]``; returns ``[B, G·C_out, H', W']``."""
    g = _check_group(weight, e_pos, e_neg, offsets, generators)
    grid = group_grid(steps, offsets, t_max, generators=generators, device=t_in.device, dtype=t_in.dtype)
    b, gc, h, w = t_in.shape
    s = _ttfs_spikes(t_in.clamp(min=0.0).view(b, g, -1), grid, t_max, 1, 1)  # [B, K+1, G, C·H·W]
    k1 = s.shape[1]
    w_all = _grouped_conv_weight(weight, group_beta_weight(weight, e_pos, e_neg))
    fg = F.conv2d(s.view(b * k1, gc, h, w), w_all, stride=stride, padding=padding, groups=g)
    ho, wo = fg.shape[2:]
    fg = fg.view(b, k1, g, 2, -1)
    starts, widths = (_grid_view(x, 2, 1, 4) for x in _ttfs_widths(grid))
    return _ttfs_crossing(fg[:, :, :, 0], fg[:, :, :, 1], starts, widths, v_th, dim=1).view(b, -1, ho, wo)
