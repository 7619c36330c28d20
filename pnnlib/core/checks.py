"""Argument validation shared by the functional core (private)."""

from __future__ import annotations

import math

import torch


def check_times_weight(t_in: torch.Tensor, weight: torch.Tensor) -> None:
    """Validate ``t_in`` [B, N_in] against ``weight`` [N_out, N_in]."""
    if not isinstance(t_in, torch.Tensor) or not isinstance(weight, torch.Tensor):
        raise ValueError("t_in and weight must be torch tensors")
    if t_in.dim() != 2:
        raise ValueError(f"t_in must have shape [B, N_in], got {tuple(t_in.shape)}")
    if weight.dim() != 2:
        raise ValueError(f"weight must have shape [N_out, N_in], got {tuple(weight.shape)}")
    if t_in.shape[1] != weight.shape[1]:
        raise ValueError(
            f"t_in has N_in={t_in.shape[1]} inputs but weight expects N_in={weight.shape[1]} "
            f"(t_in {tuple(t_in.shape)}, weight {tuple(weight.shape)})"
        )
    check_no_nan(t_in, "t_in")
    check_no_nan(weight, "weight")


def check_no_nan(x: torch.Tensor, name: str) -> None:
    """Raise if ``x`` holds NaN (``+inf`` times are allowed: they mean "no spike")."""
    if torch.isnan(x).any():
        raise ValueError(f"{name} contains NaN; use +inf (or a time >= the window end) for 'no spike'")


def check_reversal(e_pos: float, e_neg: float) -> None:
    """E⁺ > 0 > E⁻ (paper-spec §1.2); ``math.inf`` / ``-math.inf`` give the ideal limit."""
    if not (float(e_pos) > 0):
        raise ValueError(f"e_pos must be > 0 (E⁺ is the excitatory reversal potential), got {e_pos}")
    if not (float(e_neg) < 0):
        raise ValueError(f"e_neg must be < 0 (E⁻ is the inhibitory reversal potential), got {e_neg}")


def check_steps(steps: int) -> None:
    """The DSTD grid needs at least one interval."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps (M, the number of DSTD grid intervals) must be an int >= 1, got {steps!r}")


def check_offset(offset: float | None, dt: float) -> None:
    """A fixed offset must lie in [0, Δτ)."""
    if offset is None:
        return
    if not (0.0 <= float(offset) < dt) or math.isnan(float(offset)):
        raise ValueError(f"offset must lie in [0, Δτ) = [0, {dt:g}), got {offset}")
