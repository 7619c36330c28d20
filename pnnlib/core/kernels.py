r"""Choice of the implementation of the elementwise part of an RC-Spike DSTD layer: the spike
variables :math:`\Delta_m S_m(t)` (paper Eqs. 36, 46–47), the exact exponential steps over the grid
(Eq. 38) and their backward.

* ``"reference"`` — the PyTorch code of :mod:`pnnlib.core.dstd` (``_SpikeVariablesTimesWidth``,
  ``_EndPotential``): a dozen K-fold elementwise passes and a Python loop over the K grid
  intervals; runs everywhere and is what the others are tested against;
* ``"triton"`` — fused Triton kernels (:mod:`pnnlib.core._triton_dstd`): one pass over the
  coefficients forward and two backward, no K-fold intermediates kept for backward (only the
  coefficients), one kernel launch each instead of ~2K + 20. Needs the ``triton`` package
  (``pip install -e '.[gpu]'``; CUDA builds of torch ship it) and float32 tensors on a CUDA
  device, or on the CPU with ``TRITON_INTERPRET=1`` (Triton's interpreter: slow, for tests).
  Anywhere else the reference runs instead (logged once).

The TTFS forms have no fused kernel; they always run the reference code.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import torch
from torch.autograd.function import once_differentiable

__all__ = ["KERNELS", "end_potential_triton", "resolve_kernel", "spike_variables_triton"]

KERNELS = ("reference", "triton")
"""Names accepted by :func:`resolve_kernel` (and ``NeuronSpec.kernel``, ``TrainConfig.kernel``)."""

log = logging.getLogger("pnnlib.core")
_warned: set[str] = set()


def resolve_kernel(kernel: str, like: torch.Tensor) -> str:
    """The kernel that runs for tensors like ``like``: ``kernel`` itself, or ``"reference"`` when
    the Triton kernels cannot run there (see the module docstring)."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if kernel == "reference":
        return kernel
    why = None
    if like.dtype != torch.float32:
        why = f"they compute in float32, the tensors are {like.dtype}"
    elif like.device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        why = f"the tensors are on {like.device.type} (set TRITON_INTERPRET=1 to interpret them there)"
    else:
        try:
            import triton  # noqa: F401
        except ImportError:
            why = "the triton package is not installed (pip install -e '.[gpu]')"
    if why is None:
        return kernel
    if why not in _warned:
        _warned.add(why)
        log.warning("kernel 'triton' not used, running the reference DSTD code: %s", why)
    return "reference"


def _kernels() -> Any:
    from pnnlib.core import _triton_dstd

    return _triton_dstd


class _EndPotentialTriton(torch.autograd.Function):
    """Fused form of :class:`pnnlib.core.dstd._EndPotential` (``[A, K, C, 2, D]`` → ``[A, C, D]``)."""

    @staticmethod
    def forward(ctx, xg: torch.Tensor) -> torch.Tensor:
        xg = xg.contiguous()
        ctx.save_for_backward(xg)
        return _kernels().end_potential_forward(xg)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_v: torch.Tensor) -> torch.Tensor:
        (xg,) = ctx.saved_tensors
        return _kernels().end_potential_backward(xg, grad_v)


class _SpikeVariablesTriton(torch.autograd.Function):
    r"""Fused :math:`\mathrm{clip}(T_{m+1}-t,0,\Delta_m)` for ``t`` ``[P, R]`` and grids ``[G, K+1]``
    → ``[P, K, R]`` (element (p, r) on grid row ``p // p_div + r // r_div``)."""

    @staticmethod
    def forward(ctx, t: torch.Tensor, grid: torch.Tensor, p_div: int, r_div: int) -> torch.Tensor:
        t, grid = t.contiguous(), grid.contiguous()
        ctx.save_for_backward(t, grid)
        ctx.divs = (p_div, r_div)
        return _kernels().spike_variables_forward(t, grid, p_div, r_div)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_s: torch.Tensor) -> tuple[torch.Tensor | None, None, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        t, grid = ctx.saved_tensors
        return _kernels().spike_variables_backward(t, grid, grad_s, *ctx.divs), None, None, None


def end_potential_triton(xg: torch.Tensor) -> torch.Tensor:
    r""":math:`\tilde v(1)` of the stacked coefficients ``xg`` ``[A, K, C, 2, D]`` (``[:, :, :, 0]``
    = :math:`-\tilde f_m\Delta_m`, ``[:, :, :, 1]`` = :math:`\tilde g_m\Delta_m`) → ``[A, C, D]``,
    fused; the same function as :func:`pnnlib.core.dstd.end_potential`."""
    return _EndPotentialTriton.apply(xg)


def spike_variables_triton(t: torch.Tensor, grid: torch.Tensor, p_div: int, r_div: int) -> torch.Tensor:
    r""":math:`\Delta_m S_m(t)` of ``t`` ``[P, R]`` on the grids ``grid`` ``[G, K + 1]`` → ``[P, K, R]``,
    fused; element (p, r) belongs to the run ``p // p_div + r // r_div`` (one run: ``p_div = P``,
    ``r_div = R``)."""
    return _SpikeVariablesTriton.apply(t, grid, p_div, r_div)
