r"""Differentiable spike-time discretization, DSTD (paper-spec §2.2–§2.4, Eqs. 34–47).

Each continuous input spike time is spread over the two nearest points of a time grid by a
triangular (linear-interpolation) kernel; the membrane ODE is then solved exactly between grid
points with piecewise-constant coefficients, and autograd differentiates the whole map (no
surrogate gradient: ∂s/∂t = ±1/Δτ).

Grid convention (the paper's index ranges are ambiguous, paper-spec §8 item 2; our choice,
[inferred]):

* ``steps`` = M full intervals of width :math:`\Delta\tau = t_{max}/M` (``t_max = 1`` for the
  RC-Spike accumulation window);
* points :math:`T_m = m\Delta\tau - t_{offset}` for :math:`m = 0,\dots,M`, then the last point is
  pinned at the window end :math:`T_{M+1} = t_{max}`, so the final interval
  :math:`[t_{max}-t_{offset}, t_{max}]` has width :math:`t_{offset}` and its own kernel width
  (paper Eq. 47). The first point :math:`T_0=-t_{offset}` lies just before the window so that
  spikes in :math:`[0, T_1)` have a left neighbour; integration runs from :math:`T_0` with v = 0.
* ``offset=None`` draws :math:`t_{offset}\sim U(0,\Delta\tau)` afresh on every call (one offset
  per layer per mini-batch, Algorithms 3–4); a float fixes it. With ``offset=0`` (the paper's
  fixed-offset baseline) the pinned point coincides with :math:`T_M` and is dropped, leaving M
  intervals.

The cumulative spike variable :math:`S_{jm}=\sum_{q\le m}s_{jq}` of the triangular kernel has the
closed form :math:`S_m(t)=\mathrm{clip}_{[0,1]}\big((T_{m+1}-t)/(T_{m+1}-T_m)\big)`, which is what
we compute (identical to kernel + cumsum, one fused elementwise op). Then (Eqs. 36–44)

.. math:: \tilde g_{im}=\sum_j w_{ij}S_{jm},\qquad \tilde f_{im}=\sum_j\beta_{ij}w_{ij}S_{jm}

as **one** matmul (or conv2d) over all grid points at once ([W; β∘W] stacked, grid folded into
the batch), and the exact exponential step between grid points.

Times before the window start (t < 0: an early spike moved by the spike-time noise σ) count as
arriving at t = 0, in these solvers and in the exact ones of :mod:`pnnlib.core.neuron` alike; the
kernel then spreads t = 0 over :math:`T_0=-t_{offset}` and :math:`T_1` as any other time.

This module is long (~430 lines) on purpose: it is one algorithm, DSTD, in its four forms (dense and
convolutional, RC-Spike and TTFS), which share the grid, the spike variables and the hand-written
autograd functions of the exponential steps; split, each form would repeat them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from pnnlib.core.checks import (
    check_offset,
    check_reversal,
    check_steps,
    check_threshold,
    check_times_weight,
    check_window_end,
)
from pnnlib.core.kernels import end_potential_triton, resolve_kernel, spike_variables_triton
from pnnlib.core.neuron import beta_weight, first_crossing, phi

__all__ = [
    "dstd_grid",
    "spike_variables",
    "rcspike_dstd",
    "rcspike_dstd_conv2d",
    "rcspike_dstd_trajectory",
    "ttfs_dstd",
    "ttfs_dstd_conv2d",
]


def dstd_grid(
    steps: int,
    offset: float | torch.Tensor | None = None,
    t_max: float = 1.0,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Grid points :math:`T_0<\dots<T_K` (see the module docstring), as a 1-D tensor.

    ``offset=None`` draws a uniform offset in (0, Δτ) from ``generator`` (``None``: torch's
    default generator of ``device``); a float or 0-d tensor fixes it.
    Returns ``K + 1`` points: ``M + 2`` with a positive offset, ``M + 1`` with offset 0.
    """
    dt = t_max / steps
    m = torch.linspace(0.0, t_max, steps + 1, device=device, dtype=dtype)
    if offset is None:
        # (0, Δτ): keep the final interval strictly positive.
        o = (torch.rand((), device=device, dtype=dtype, generator=generator) * (1 - 2e-6) + 1e-6) * dt
    elif isinstance(offset, torch.Tensor):
        o = offset.to(device=device, dtype=dtype)
    else:
        if float(offset) == 0.0:
            return m
        o = torch.tensor(float(offset), device=device, dtype=dtype)
    end = torch.full((1,), t_max, device=device, dtype=dtype)
    return torch.cat([m - o, end])


def spike_variables(t: torch.Tensor, grid: torch.Tensor, dim: int = 1) -> torch.Tensor:
    r"""Cumulative spike variables :math:`S_m(t)` for the K grid intervals (Eqs. 36, 46–47).

    ``S_m(t) = clip((T_{m+1} - t) / (T_{m+1} - T_m), 0, 1)``; a new axis of size K is inserted
    at ``dim`` of ``t``. Times beyond the last grid point (or ``+inf``) give 0 everywhere.
    """
    lo, hi = grid[:-1], grid[1:]
    shape = [1] * (t.dim() + 1)
    shape[dim] = -1
    return _spike_variables(t.unsqueeze(dim), hi.reshape(shape), (hi - lo).reshape(shape))


def _spike_variables(t: torch.Tensor, hi: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """``clip((hi - t) / width, 0, 1)`` for broadcastable times, interval ends and widths."""
    return ((hi - t) / width).clamp(0.0, 1.0)


class _SpikeVariablesTimesWidth(torch.autograd.Function):
    r""":math:`\Delta_m S_m(t) = \mathrm{clip}(T_{m+1}-t, 0, \Delta_m)`, axis 1 of size K inserted.

    Feeding these to the coefficient matmul/conv yields :math:`\tilde f_m\Delta_m` and
    :math:`\tilde g_m\Delta_m` directly (what the exponential step needs). The derivative in t
    is −1 on the one interval :math:`T_m<t\le T_{m+1}` and 0 on all others, so the backward
    gathers one grid slice per input instead of masking all K of them.
    """

    @staticmethod
    def forward(ctx, t: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        shape = [1, -1] + [1] * (t.dim() - 1)
        s = torch.sub(grid[1:].reshape(shape), t.unsqueeze(1))
        ctx.save_for_backward(t, grid)
        return s.clamp_(min=torch.zeros((), dtype=t.dtype, device=t.device), max=(grid[1:] - grid[:-1]).reshape(shape))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_s: torch.Tensor) -> tuple[torch.Tensor | None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None
        t, grid = ctx.saved_tensors
        m = torch.bucketize(t, grid) - 1  # T_m < t <= T_{m+1}
        inside = (m >= 0) & (m < grad_s.shape[1])
        picked = grad_s.gather(1, m.clamp(0, grad_s.shape[1] - 1).unsqueeze(1)).squeeze(1)
        return torch.where(inside, -picked, torch.zeros_like(picked)), None


def _dense_coefficients(s: torch.Tensor, weight: torch.Tensor, bw: torch.Tensor) -> torch.Tensor:
    """``s`` [B, K, N_in] → [f̃; g̃] stacked on axis 2, ``[B, K, 2 N_out]``, one matmul for all
    grid points."""
    return s @ torch.cat([bw, weight], 0).t()


def _conv_coefficients(
    s: torch.Tensor,
    weight: torch.Tensor,
    bw: torch.Tensor,
    stride: int | tuple[int, int],
    padding: int | tuple[int, int],
) -> torch.Tensor:
    """``s`` [B, K, C, H, W] → [f̃; g̃] stacked on axis 2, ``[B, K, 2 C_out, H', W']``, with one
    conv2d call.

    The K grid points are folded into the batch dimension; zero padding of S equals padding
    the spike times with "no spike".
    """
    b, k = s.shape[:2]
    fg = F.conv2d(s.flatten(0, 1), torch.cat([bw, weight], 0), stride=stride, padding=padding)
    return fg.unflatten(0, (b, k))


def _check(
    t_in: torch.Tensor,
    weight: torch.Tensor,
    e_pos: float,
    e_neg: float,
    steps: int,
    offset: float | None,
    t_max: float,
    conv: bool,
    v_th: float | None = None,
) -> None:
    """Every argument of a DSTD solver (``v_th`` only for TTFS)."""
    check_times_weight(t_in, weight, conv=conv)
    check_reversal(e_pos, e_neg)
    check_steps(steps)
    check_window_end(t_max, "t_max")
    check_offset(offset, t_max / steps)
    if v_th is not None:
        check_threshold(v_th)


class _EndPotential(torch.autograd.Function):
    r"""RC-Spike :math:`\tilde v(1)` from the stacked coefficients ``xg`` of shape ``[A, K, C, 2, D]``:
    ``xg[:, :, :, 0]`` holds :math:`-x_m` with :math:`x_m=\tilde f_m\Delta_m\ge0` and ``xg[:, :, :, 1]``
    holds :math:`G_m=\tilde g_m\Delta_m` on the K grid intervals (axis 1), for A × C × D neurons
    (one run: A = batch, C = 1; a group of runs, :mod:`pnnlib.core.dstd_group`: the run axis is A or
    C). Returns ``[A, C, D]``. The exact step of Eq. 38,

    .. math:: \tilde v_{m+1}=\tilde v_m e^{-x_m}+G_m\psi(x_m),\qquad
        \psi(x)=\frac{1-e^{-x}}{x}=\frac{(1+e^{-x})\tanh(x/2)}{x},\qquad \tilde v_0=0.

    The tanh form has no cancellation at small x (ψ(0) = 1 with x clamped to a tiny positive
    number) and is cheaper than ``expm1``, which is ~6× slower than ``exp`` on CPU.
    Forward and backward are written out by hand (the backward runs the adjoint recursion
    :math:`a_m=a_{m+1}e^{-x_m}` and uses :math:`\psi'(x)=(e^{-x}-\psi)/x`, or its series
    :math:`-1/2+x/3` near 0) so that a layer costs about twenty elementwise passes instead of
    the ~60 autograd records of the generic formula: this is what keeps the conv layers within
    a small factor of their bare convolutions. Agrees with :func:`pnnlib.core.neuron.v_end_scan` to
    rounding. This is the reference implementation; :mod:`pnnlib.core.kernels` holds fused ones.
    """

    @staticmethod
    def forward(ctx, xg: torch.Tensor) -> torch.Tensor:
        nx, big_g = xg[:, :, :, 0], xg[:, :, :, 1]
        decay = torch.exp(nx)
        nx_c = nx.clamp(max=-2 * torch.finfo(nx.dtype).tiny)
        tanh_half = torch.tanh(nx_c * 0.5)
        psi = torch.addcmul(tanh_half, tanh_half, decay).div_(nx_c)
        drive = psi * big_g
        v_start = torch.empty_like(drive)  # v_m at the start of interval m
        v_start[:, 0] = 0.0
        for m in range(nx.shape[1] - 1):
            torch.addcmul(drive[:, m], v_start[:, m], decay[:, m], out=v_start[:, m + 1])
        ctx.save_for_backward(nx, big_g, decay, psi, v_start)
        return torch.addcmul(drive[:, -1], v_start[:, -1], decay[:, -1])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_v: torch.Tensor) -> torch.Tensor:
        nx, big_g, decay, psi, v_start = ctx.saved_tensors
        adj = torch.empty_like(decay)  # adj[:, m] = dL/dv_{m+1}
        adj[:, -1] = grad_v
        for m in range(nx.shape[1] - 1, 0, -1):
            torch.mul(adj[:, m], decay[:, m], out=adj[:, m - 1])
        grad = nx.new_empty(nx.shape[:3] + (2,) + nx.shape[3:])
        torch.mul(adj, psi, out=grad[:, :, :, 1])
        # d psi / d(-x) = (e^{-x} - psi) / (-x); series 1/2 + (-x)/3 where that cancels
        # (its error x^2/8 then stays below the rounding error of the direct form).
        small = nx > (-1e-5 if nx.dtype == torch.float64 else -4e-3)
        dpsi = torch.sub(decay, psi).div_(nx)
        dpsi = torch.where(small, torch.add(nx.new_full((), 0.5), nx, alpha=1.0 / 3.0), dpsi)
        # d v_{m+1} / d(-x_m) = G_m dpsi/d(-x_m) + v_m e^{-x_m}
        torch.mul(adj, dpsi.mul_(big_g).addcmul_(v_start, decay), out=grad[:, :, :, 0])
        return grad


def end_potential(xg: torch.Tensor, kernel: str = "reference") -> torch.Tensor:
    r""":math:`\tilde v(1)` of ``xg`` ``[A, K, C, 2, D]`` → ``[A, C, D]`` (:class:`_EndPotential`), with
    the implementation ``kernel`` (:mod:`pnnlib.core.kernels`)."""
    if resolve_kernel(kernel, xg) == "triton":
        return end_potential_triton(xg)
    return _EndPotential.apply(xg)


def spike_variables_times_width(t: torch.Tensor, grid: torch.Tensor, kernel: str = "reference") -> torch.Tensor:
    """:class:`_SpikeVariablesTimesWidth` of ``t`` ``[B, ...]`` on one grid ``[K + 1]`` → ``[B, K, ...]``,
    with the implementation ``kernel`` (:mod:`pnnlib.core.kernels`)."""
    if resolve_kernel(kernel, t) == "triton":
        b = t.shape[0]
        r = t[0].numel()
        return spike_variables_triton(t.reshape(b, r), grid[None], b, r).view(b, -1, *t.shape[1:])
    return _SpikeVariablesTimesWidth.apply(t, grid)


def _rcspike(t_in, weight, e_pos, e_neg, steps, offset, coeffs, generator, kernel) -> torch.Tensor:
    grid = dstd_grid(steps, offset, 1.0, device=t_in.device, dtype=t_in.dtype, generator=generator)
    s_dt = spike_variables_times_width(t_in.clamp(min=0.0), grid, kernel)
    # -β∘W: the matmul/conv then gives -f̃Δ (= the exponent) and g̃Δ, [B, K, 2 N_out, ...].
    xg = coeffs(s_dt, weight, -beta_weight(weight, e_pos, e_neg))
    b, k = xg.shape[:2]
    return end_potential(xg.view(b, k, 1, 2, -1), kernel).view((b, -1) + xg.shape[3:])


def rcspike_dstd(
    t_in: torch.Tensor,
    weight: torch.Tensor,
    e_pos: float,
    e_neg: float,
    steps: int,
    offset: float | None = None,
    *,
    check: bool = True,
    generator: torch.Generator | None = None,
    kernel: str = "reference",
) -> torch.Tensor:
    r"""DSTD approximation :math:`\hat v_i(1)` of :func:`pnnlib.core.neuron.rcspike_exact` (Algorithm 3).

    Cost O(M N_in N_out) per sample instead of the exact O(N_in² N_out) and no sorting.
    The error is :math:`O(M^{-2}|E|^{-1})` (Theorem 1); in the ideal limit it is exact.

    Args:
        t_in: ``[B, N_in]`` input spike times.
        weight: ``[N_out, N_in]``.
        e_pos, e_neg: reversal potentials.
        steps: M, the number of grid intervals of width Δτ = 1/M.
        offset: ``None`` = fresh uniform offset in (0, Δτ) per call; a float in [0, Δτ) fixes it.
        check: validate arguments (``ValueError`` naming the argument): floating-point tensors
            of one dtype, N_in >= 1, finite weights, no NaN or −inf times, E⁺ > 0 > E⁻, M, offset.
        generator: where a random offset is drawn from (``None``: torch's default generator).
        kernel: implementation of the elementwise part (:mod:`pnnlib.core.kernels`).

    Returns:
        ``[B, N_out]`` membrane potentials at the end of the accumulation window.
    """
    if check:
        _check(t_in, weight, e_pos, e_neg, steps, offset, 1.0, conv=False)
    return _rcspike(t_in, weight, e_pos, e_neg, steps, offset, _dense_coefficients, generator, kernel)


def rcspike_dstd_conv2d(
    t_in: torch.Tensor,
    weight: torch.Tensor,
    e_pos: float,
    e_neg: float,
    steps: int,
    offset: float | None = None,
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    check: bool = True,
    generator: torch.Generator | None = None,
    kernel: str = "reference",
) -> torch.Tensor:
    r"""Convolutional DSTD: :math:`\tilde g=\mathrm{conv}(W,S_m)`, :math:`\tilde f=\mathrm{conv}(\beta\circ W,S_m)`.

    ``t_in`` ``[B, C, H, W]``, ``weight`` ``[C_out, C, kh, kw]``; returns ``[B, C_out, H', W']``.
    All grid points go through one ``conv2d`` call (folded into the batch dimension).
    """
    if check:
        _check(t_in, weight, e_pos, e_neg, steps, offset, 1.0, conv=True)

    def coeffs(s, w, bw):
        return _conv_coefficients(s, w, bw, stride, padding)

    return _rcspike(t_in, weight, e_pos, e_neg, steps, offset, coeffs, generator, kernel)


def rcspike_dstd_trajectory(
    t_in: torch.Tensor,
    weight: torch.Tensor,
    e_pos: float,
    e_neg: float,
    steps: int,
    offset: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """DSTD membrane potential at every grid point (for plots such as paper Fig. 2c, d).

    Returns ``(grid [K+1], v [B, K+1, N_out])`` with ``v[:, 0] = 0`` and ``v[:, -1]`` equal to
    :func:`rcspike_dstd` for the same grid.
    """
    _check(t_in, weight, e_pos, e_neg, steps, offset, 1.0, conv=False)
    grid = dstd_grid(steps, offset, 1.0, device=t_in.device, dtype=t_in.dtype)
    s = spike_variables(t_in.clamp(min=0.0), grid, dim=1)
    f, g = _dense_coefficients(s, weight, beta_weight(weight, e_pos, e_neg)).chunk(2, 2)
    return grid, _grid_potentials(f, g, (grid[1:] - grid[:-1]).reshape(-1, 1))


def _grid_potentials(f: torch.Tensor, g: torch.Tensor, width: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Exact recursion over the grid (Eq. 38): ṽ at all K + 1 points (v = 0 at T_0), on axis ``dim``
    of the K intervals of ``f``, ``g`` and ``width`` (the interval widths, broadcastable to ``f``)."""
    decay = torch.exp(-f * width)
    drive = g * phi(f, width)
    v = torch.zeros_like(f.select(dim, 0))
    out = [v]
    for d_k, r_k in zip(decay.unbind(dim), drive.unbind(dim)):  # unbind: one backward node
        v = v * d_k + r_k
        out.append(v)
    return torch.stack(out, dim)


def _ttfs_crossing(
    f: torch.Tensor, g: torch.Tensor, t_start: torch.Tensor, width: torch.Tensor, v_th: float, dim: int
) -> torch.Tensor:
    """TTFS firing time from f̃, g̃ on the K grid intervals and the open-ended one after them (K + 1
    entries on axis ``dim``), the interval starts ``t_start`` and widths ``width`` (last: ``inf``),
    both broadcastable to ``f``: the recursion to the interval starts, then the first crossing."""
    k = f.shape[dim] - 1
    w_dim = dim - (f.dim() - width.dim())  # width is right-aligned with f by broadcasting
    v = _grid_potentials(f.narrow(dim, 0, k), g.narrow(dim, 0, k), width.narrow(w_dim, 0, k), dim)
    return first_crossing(t_start, f, g, v, width, v_th, dim=dim)


def _ttfs(t_in, weight, e_pos, e_neg, steps, offset, t_max, v_th, coeffs, generator) -> torch.Tensor:
    grid = dstd_grid(steps, offset, t_max, device=t_in.device, dtype=t_in.dtype, generator=generator)
    t_in = t_in.clamp(min=0.0)
    s = spike_variables(t_in, grid, dim=1)
    # After the last grid point every input with t <= t_max has arrived: one more (open-ended)
    # interval with the full coefficients, so a neuron can still fire after t_max.
    s_all = (t_in <= t_max).to(t_in.dtype).unsqueeze(1)
    f, g = coeffs(torch.cat([s, s_all], 1), weight, beta_weight(weight, e_pos, e_neg)).chunk(2, 2)
    shape = [-1] + [1] * (f.dim() - 2)
    width = torch.cat([grid[1:] - grid[:-1], grid.new_full((1,), math.inf)]).reshape(shape)
    return _ttfs_crossing(f, g, grid.reshape(shape), width, v_th, dim=1)


def ttfs_dstd(
    t_in: torch.Tensor,
    weight: torch.Tensor,
    e_pos: float,
    e_neg: float,
    steps: int,
    offset: float | None = None,
    t_max: float = 4.0,
    v_th: float = 1.0,
    *,
    check: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""DSTD TTFS neuron (Algorithm 4): first grid interval where ṽ reaches ``v_th``, then the
    analytic crossing time inside it (the §1.5 log formula with f̃, g̃, ṽ).

    The grid spans ``[0, t_max]`` with Δτ = t_max/M ([inferred]; the paper does not give the
    TTFS range; ``t_max = 4`` covers t_ref = 3.2). Inputs after ``t_max`` are ignored; after the
    last grid point the coefficients are constant and the crossing is still solved exactly.
    ``check`` validates the arguments (as :func:`rcspike_dstd`, plus ``t_max`` in
    (0, :data:`~pnnlib.core.checks.MAX_TIME`] and ``v_th`` > 0).
    Returns ``[B, N_out]`` firing times, ``+inf`` where the neuron never fires.
    """
    if check:
        _check(t_in, weight, e_pos, e_neg, steps, offset, t_max, conv=False, v_th=v_th)
    return _ttfs(t_in, weight, e_pos, e_neg, steps, offset, t_max, v_th, _dense_coefficients, generator)


def ttfs_dstd_conv2d(
    t_in: torch.Tensor,
    weight: torch.Tensor,
    e_pos: float,
    e_neg: float,
    steps: int,
    offset: float | None = None,
    t_max: float = 4.0,
    v_th: float = 1.0,
    *,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    check: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Convolutional form of :func:`ttfs_dstd` (``[B, C, H, W]`` → ``[B, C_out, H', W']``)."""
    if check:
        _check(t_in, weight, e_pos, e_neg, steps, offset, t_max, conv=True, v_th=v_th)

    def coeffs(s, w, bw):
        return _conv_coefficients(s, w, bw, stride, padding)

    return _ttfs(t_in, weight, e_pos, e_neg, steps, offset, t_max, v_th, coeffs, generator)
