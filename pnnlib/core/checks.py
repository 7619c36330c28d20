"""Argument validation shared by the functional core, :class:`~pnnlib.nn.spec.NeuronSpec` and
:class:`~pnnlib.nn.networks.SpikeNetwork` (each message names the argument and what it must be)."""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch

MAX_TIME = 1e4
"""Largest window end (``t_max``, ``t_end``) accepted. Times are in units of the input window
τ_in = 1; at 1e4 float32 still resolves about a thousandth of it (its spacing there is 1e-3),
beyond that grid points and spike times round together and DSTD returns meaningless times (e.g.
``t_max=1e30`` gave a firing time of −2.3e28)."""


def check_times_weight(t_in: torch.Tensor, weight: torch.Tensor, *, conv: bool = False) -> None:
    """Validate ``t_in`` [B, N_in] against ``weight`` [N_out, N_in] (``conv``: ``t_in``
    [B, C, H, W] against ``weight`` [C_out, C, kh, kw]).

    Both must be floating-point tensors of one dtype with at least one input; weights must be
    finite; times must not be NaN or −inf (``+inf`` = "no spike").
    """
    if not isinstance(t_in, torch.Tensor) or not isinstance(weight, torch.Tensor):
        raise ValueError(
            f"t_in and weight must be torch tensors, got {type(t_in).__name__} and {type(weight).__name__}"
        )
    if conv:
        if t_in.dim() != 4 or weight.dim() != 4:
            raise ValueError(
                f"conv needs t_in [B, C, H, W] and weight [C_out, C, kh, kw], got "
                f"t_in {tuple(t_in.shape)}, weight {tuple(weight.shape)}"
            )
        if t_in.shape[1] != weight.shape[1]:
            raise ValueError(f"t_in has C={t_in.shape[1]} channels but weight expects {weight.shape[1]}")
        n_in, what = math.prod(weight.shape[1:]), "C·kh·kw"
    else:
        if t_in.dim() != 2:
            raise ValueError(f"t_in must have shape [B, N_in], got {tuple(t_in.shape)}")
        if weight.dim() != 2:
            raise ValueError(f"weight must have shape [N_out, N_in], got {tuple(weight.shape)}")
        if t_in.shape[1] != weight.shape[1]:
            raise ValueError(
                f"t_in has N_in={t_in.shape[1]} inputs but weight expects N_in={weight.shape[1]} "
                f"(t_in {tuple(t_in.shape)}, weight {tuple(weight.shape)})"
            )
        n_in, what = weight.shape[1], "N_in"
    if n_in == 0:
        raise ValueError(
            f"the neurons have no inputs ({what} = 0, weight {tuple(weight.shape)}); a layer needs at least one input"
        )
    check_spike_times(t_in, "t_in")
    if not weight.is_floating_point():
        raise ValueError(f"weight must be a floating-point tensor, got {weight.dtype}; convert it with .float()")
    if t_in.dtype != weight.dtype:
        raise ValueError(f"t_in ({t_in.dtype}) and weight ({weight.dtype}) must have the same dtype")
    if not torch.isfinite(weight).all():
        raise ValueError("weight contains NaN or ±inf; weights must be finite numbers")


def check_spike_times(t: torch.Tensor, name: str) -> None:
    """Raise unless ``t`` is a floating-point tensor without NaN or −inf (``+inf`` times are
    allowed: they mean "no spike"; a time before 0 counts as a spike at 0)."""
    if not isinstance(t, torch.Tensor) or not t.is_floating_point():
        what = t.dtype if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(
            f"{name} must be a floating-point tensor of spike times, got {what}; convert it with "
            ".float() (images: pnnlib.data.encode_images)"
        )
    if bool((t > -math.inf).all()):  # one pass and one host sync: false for NaN and for -inf
        return
    if torch.isnan(t).any():
        raise ValueError(f"{name} contains NaN; use +inf (or a time >= the window end) for 'no spike'")
    raise ValueError(
        f"{name} contains -inf, which is no spike time; use a finite time (a time before 0 "
        "counts as a spike at 0) or +inf for 'no spike'"
    )


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


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def check_window_end(value: Any, name: str, *, allow_zero: bool = False) -> None:
    """A window end (``t_max`` of the TTFS grid, ``t_end`` of the RC-Spike accumulation): a
    finite number in (0, :data:`MAX_TIME`] (``allow_zero``: [0, MAX_TIME])."""
    low_ok = _is_real(value) and (value >= 0 if allow_zero else value > 0)
    if not (low_ok and math.isfinite(value) and value <= MAX_TIME):
        interval = f"{'[' if allow_zero else '('}0, {MAX_TIME:g}]"
        raise ValueError(
            f"{name} must be a finite number in {interval} (times are in units of the input window "
            f"τ_in = 1), got {value!r}"
        )


def check_threshold(v_th: Any, name: str = "v_th") -> None:
    """The TTFS threshold V_th: a finite number > 0 (the membrane starts at 0, so V_th <= 0 would
    'fire' before any input arrives)."""
    if not (_is_real(v_th) and math.isfinite(v_th) and v_th > 0):
        raise ValueError(f"{name} (the firing threshold V_th) must be a finite number > 0, got {v_th!r}")
