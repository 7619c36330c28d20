r"""Triton kernels of the elementwise part of an RC-Spike DSTD layer (imported only when the
``triton`` kernel is selected, :mod:`pnnlib.core.kernels`).

* spike variables :math:`\Delta_m S_m(t)=\mathrm{clip}(T_{m+1}-t,0,\Delta_m)` (paper Eqs. 36,
  46–47), one write per output; backward: per input, the one interval :math:`T_m<t\le T_{m+1}`
  found from the run's grid and one read of the incoming gradient there;
* the exact exponential steps over the K grid intervals (Eq. 38),
  :math:`\tilde v_{m+1}=\tilde v_m e^{-x_m}+G_m\psi(x_m)` with :math:`\psi(x)=(1-e^{-x})/x`:
  each program keeps :math:`\tilde v` of its neurons in registers across the K intervals (one
  read of the coefficients, one write of :math:`\tilde v(1)`, nothing saved for backward but the
  coefficients). The backward recomputes the :math:`\tilde v_m` in a first sweep (written into the
  gradient buffer's slots, which the second sweep overwrites) and runs the adjoint recursion
  :math:`a_m=a_{m+1}e^{-x_m}` in a second, descending sweep.

Every kernel takes K at run time (no recompilation per M). With ``TRITON_INTERPRET=1`` they run on
CPU tensors through Triton's interpreter, which is how the equivalence tests check them without a
GPU. ψ and ψ' use their Taylor series for :math:`|x|<1/2` (truncation below 1e-9 relative), else
the closed forms, which lose at most a few ulp there (Triton has no portable ``expm1``/``tanh``).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["end_potential_backward", "end_potential_forward", "spike_variables_backward", "spike_variables_forward"]

BLOCK = 256


@triton.jit
def _psi_dpsi(nx):
    """ψ(x) and dψ/d(−x) at ``nx`` = −x, with e^{−x}: (decay, psi, dpsi)."""
    decay = tl.exp(nx)
    x = -nx
    small = tl.abs(x) < 0.5
    xs = tl.where(small, x, 0.0)
    # ψ(x) = Σ_n (−x)^n / (n+1)!,  dψ/d(−x) = −ψ'(x) = Σ_{n≥1} (−1)^{n+1} n x^{n−1} / (n+1)!
    p = 1.0 / 39916800.0
    p = p * xs - 1.0 / 3628800.0
    p = p * xs + 1.0 / 362880.0
    p = p * xs - 1.0 / 40320.0
    p = p * xs + 1.0 / 5040.0
    p = p * xs - 1.0 / 720.0
    p = p * xs + 1.0 / 120.0
    p = p * xs - 1.0 / 24.0
    p = p * xs + 1.0 / 6.0
    p = p * xs - 1.0 / 2.0
    p = p * xs + 1.0
    q = -10.0 / 39916800.0
    q = q * xs + 9.0 / 3628800.0
    q = q * xs - 8.0 / 362880.0
    q = q * xs + 7.0 / 40320.0
    q = q * xs - 6.0 / 5040.0
    q = q * xs + 5.0 / 720.0
    q = q * xs - 4.0 / 120.0
    q = q * xs + 3.0 / 24.0
    q = q * xs - 2.0 / 6.0
    q = q * xs + 1.0 / 2.0
    x_safe = tl.where(small, 1.0, x)
    psi_direct = (1.0 - decay) / x_safe
    psi = tl.where(small, p, psi_direct)
    dpsi = tl.where(small, q, (decay - psi_direct) / tl.where(small, -1.0, nx))
    return decay, psi, dpsi


@triton.jit
def _ep_fwd_kernel(xg_ptr, v_ptr, n, K, CD, D, BLOCK: tl.constexpr):
    o = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = o < n
    a = o // CD
    r = o % CD
    base = a.to(tl.int64) * K * 2 * CD + (r // D) * 2 * D + r % D
    v = tl.zeros([BLOCK], dtype=tl.float32)
    for k in range(K):
        off = base + k * 2 * CD
        nx = tl.load(xg_ptr + off, mask=mask, other=0.0).to(tl.float32)
        g = tl.load(xg_ptr + off + D, mask=mask, other=0.0).to(tl.float32)
        decay, psi, _ = _psi_dpsi(nx)
        v = v * decay + psi * g
    tl.store(v_ptr + o, v, mask=mask)


@triton.jit
def _ep_bwd_kernel(xg_ptr, gv_ptr, grad_ptr, n, K, CD, D, BLOCK: tl.constexpr):
    o = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = o < n
    a = o // CD
    r = o % CD
    base = a.to(tl.int64) * K * 2 * CD + (r // D) * 2 * D + r % D
    # sweep 1: v_m at the start of every interval, parked in the gradient's -x slots
    v = tl.zeros([BLOCK], dtype=tl.float32)
    for k in range(K):
        off = base + k * 2 * CD
        nx = tl.load(xg_ptr + off, mask=mask, other=0.0).to(tl.float32)
        g = tl.load(xg_ptr + off + D, mask=mask, other=0.0).to(tl.float32)
        tl.store(grad_ptr + off, v, mask=mask)
        decay, psi, _ = _psi_dpsi(nx)
        v = v * decay + psi * g
    # sweep 2: adjoint a_m = dL/dv_{m+1}, descending
    adj = tl.load(gv_ptr + o, mask=mask, other=0.0).to(tl.float32)
    for j in range(K):
        off = base + (K - 1 - j) * 2 * CD
        nx = tl.load(xg_ptr + off, mask=mask, other=0.0).to(tl.float32)
        g = tl.load(xg_ptr + off + D, mask=mask, other=0.0).to(tl.float32)
        v_m = tl.load(grad_ptr + off, mask=mask, other=0.0)
        decay, psi, dpsi = _psi_dpsi(nx)
        tl.store(grad_ptr + off + D, adj * psi, mask=mask)
        tl.store(grad_ptr + off, adj * (g * dpsi + v_m * decay), mask=mask)
        adj = adj * decay


@triton.jit
def _sv_fwd_kernel(t_ptr, grid_ptr, s_ptr, n, K, R, p_div, r_div, BLOCK: tl.constexpr):
    o = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = o < n
    p = o // R
    r = o % R
    run = p // p_div + r // r_div
    t = tl.load(t_ptr + o, mask=mask, other=0.0)
    out = p.to(tl.int64) * K * R + r
    lo = tl.load(grid_ptr + run * (K + 1), mask=mask, other=0.0)
    for k in range(K):
        hi = tl.load(grid_ptr + run * (K + 1) + k + 1, mask=mask, other=0.0)
        s = tl.minimum(tl.maximum(hi - t, 0.0), hi - lo)
        tl.store(s_ptr + out + k * R, s, mask=mask)
        lo = hi


@triton.jit
def _sv_bwd_kernel(t_ptr, grid_ptr, gs_ptr, gt_ptr, n, K, R, p_div, r_div, BLOCK: tl.constexpr):
    o = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = o < n
    p = o // R
    r = o % R
    run = p // p_div + r // r_div
    t = tl.load(t_ptr + o, mask=mask, other=0.0)
    below = tl.zeros([BLOCK], dtype=tl.int32)  # grid points T < t: t lies in interval below - 1
    for k in range(K + 1):
        below += (tl.load(grid_ptr + run * (K + 1) + k, mask=mask, other=0.0) < t).to(tl.int32)
    m = below - 1
    inside = mask & (m >= 0) & (m < K)
    g = tl.load(gs_ptr + p.to(tl.int64) * K * R + tl.where(inside, m, 0) * R + r, mask=inside, other=0.0)
    tl.store(gt_ptr + o, -g, mask=mask)


def _launch(n: int) -> tuple[int]:
    return (triton.cdiv(n, BLOCK),)


def end_potential_forward(xg: torch.Tensor) -> torch.Tensor:
    """``xg`` ``[A, K, C, 2, D]`` (contiguous) → ṽ(1) ``[A, C, D]``."""
    a, k, c, _, d = xg.shape
    v = xg.new_empty((a, c, d))
    if v.numel():
        _ep_fwd_kernel[_launch(v.numel())](xg, v, v.numel(), k, c * d, d, BLOCK=BLOCK)
    return v


def end_potential_backward(xg: torch.Tensor, grad_v: torch.Tensor) -> torch.Tensor:
    """Gradient of :func:`end_potential_forward` with respect to ``xg``, for ``grad_v`` ``[A, C, D]``."""
    a, k, c, _, d = xg.shape
    grad = torch.empty_like(xg)
    if grad_v.numel():
        _ep_bwd_kernel[_launch(grad_v.numel())](xg, grad_v.contiguous(), grad, grad_v.numel(), k, c * d, d, BLOCK=BLOCK)
    return grad


def spike_variables_forward(t: torch.Tensor, grid: torch.Tensor, p_div: int, r_div: int) -> torch.Tensor:
    """``t`` ``[P, R]``, ``grid`` ``[G, K + 1]`` → ``[P, K, R]``; element (p, r) uses grid row
    ``p // p_div + r // r_div``."""
    p, r = t.shape
    k = grid.shape[1] - 1
    s = t.new_empty((p, k, r))
    if t.numel():
        _sv_fwd_kernel[_launch(t.numel())](t, grid, s, t.numel(), k, r, p_div, r_div, BLOCK=BLOCK)
    return s


def spike_variables_backward(
    t: torch.Tensor, grid: torch.Tensor, grad_s: torch.Tensor, p_div: int, r_div: int
) -> torch.Tensor:
    """Gradient of :func:`spike_variables_forward` with respect to ``t``."""
    p, r = t.shape
    grad_t = torch.empty_like(t)
    if t.numel():
        _sv_bwd_kernel[_launch(t.numel())](
            t, grid, grad_s.contiguous(), grad_t, t.numel(), grid.shape[1] - 1, r, p_div, r_div, BLOCK=BLOCK
        )
    return grad_t
