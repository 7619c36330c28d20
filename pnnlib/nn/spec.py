r"""One frozen description of a layer's neurons: :class:`NeuronSpec`, validated once.

Every spiking layer of :mod:`pnnlib.nn.layers` holds one; networks share one across their
layers, and :class:`pnnlib.train.TrainConfig` builds it (:meth:`TrainConfig.neuron_spec`).
The fields, with the paper's symbols:

* ``e_pos``, ``e_neg`` — reversal potentials :math:`E^+ > 0 > E^-` (paper-spec §1.2);
  ``e_neg=None`` means :math:`E^- = -E^+`, as in all the paper's ML experiments. ``math.inf``
  gives the ideal limit.
* ``steps``, ``offset`` — training DSTD grid: M intervals and the offset mode (``"random"``:
  a fresh :math:`t_{offset}\sim U(0,\Delta\tau)` per layer per mini-batch, Algorithms 3–4;
  ``"fixed"``: :math:`t_{offset}=0`).
* ``eval_steps``, ``eval_offset`` — the same for evaluation (paper Appendix E evaluates with a
  larger M); ``None`` = as in training.
* ``sigma`` — std of the Gaussian noise added to the layer's output spike times in training
  **and** evaluation (§3.3).
* ``exact`` — the exact event-based solvers instead of DSTD (small layers only).
* ``e_dis`` — RC-Spike only: the discharge non-ideality :math:`E_{dis}` of the firing phase
  (§1.7); ``None`` = the ideal ramp.
* ``t_max``, ``v_th`` — TTFS only: end of the DSTD grid (the window, [inferred] 4 to cover
  t_ref = 3.2) and the threshold :math:`V_{th}` (§1.5).
* ``kernel`` — RC-Spike only: the implementation of the DSTD layer's elementwise part,
  ``"reference"`` (PyTorch) or ``"triton"`` (fused kernels; :mod:`pnnlib.core.kernels`). The same
  function either way, up to float32 rounding.

Change a field with :meth:`NeuronSpec.replace` (or by assigning the layer attribute of the same
name, which replaces the layer's spec): the new spec is validated again.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from pnnlib.core.checks import check_threshold, check_window_end
from pnnlib.core.kernels import KERNELS

__all__ = ["NeuronSpec", "OffsetMode"]

OffsetMode = Literal["random", "fixed"]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


@dataclass(frozen=True)
class NeuronSpec:
    """Neuron and DSTD settings of a spiking layer (see the module docstring)."""

    e_pos: float
    e_neg: float | None = None
    steps: int = 10
    offset: OffsetMode = "random"
    eval_steps: int | None = None
    eval_offset: OffsetMode | None = None
    sigma: float = 0.0
    exact: bool = False
    e_dis: float | None = None
    t_max: float = 4.0
    v_th: float = 1.0
    kernel: str = "reference"

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> None:
            raise ValueError(f"NeuronSpec.{key}: {why}, got {getattr(self, key)!r}")

        if not (_is_real(self.e_pos) and self.e_pos > 0):
            bad("e_pos", "E⁺ must be a number > 0 (math.inf = ideal)")
        if self.e_neg is None:
            object.__setattr__(self, "e_neg", -float(self.e_pos))
        elif not (_is_real(self.e_neg) and self.e_neg < 0):
            bad("e_neg", "E⁻ must be a number < 0 (-math.inf = ideal), or None for -E⁺")
        object.__setattr__(self, "e_pos", float(self.e_pos))
        object.__setattr__(self, "e_neg", float(self.e_neg))
        for key in ("steps", "eval_steps"):
            v = getattr(self, key)
            if (v is not None or key == "steps") and not (_is_int(v) and v >= 1):
                bad(key, "must be an int >= 1 (the number of DSTD grid intervals)")
        for key in ("offset", "eval_offset"):
            v = getattr(self, key)
            if (v is not None or key == "offset") and v not in ("random", "fixed"):
                bad(key, "must be 'random' or 'fixed'")
        if not (_is_real(self.sigma) and math.isfinite(self.sigma) and self.sigma >= 0):
            bad("sigma", "the spike-time noise std must be a finite number >= 0")
        if not isinstance(self.exact, bool):
            bad("exact", "must be True or False")
        if self.e_dis is not None and not (_is_real(self.e_dis) and self.e_dis > 1):
            bad("e_dis", "E_dis must be a number > 1 (the firing ramp must reach threshold), or None")
        # The same checks as the functional core's (which layers call with check=False).
        check_window_end(self.t_max, "NeuronSpec.t_max (the TTFS window end)")
        check_threshold(self.v_th, "NeuronSpec.v_th")
        if self.kernel not in KERNELS:
            bad("kernel", f"must be one of {list(KERNELS)}")

    def replace(self, **changes: Any) -> NeuronSpec:
        """A validated copy with some fields changed (``e_neg`` follows ``e_pos`` when it was −E⁺
        and is not given)."""
        if "e_pos" in changes and "e_neg" not in changes and self.e_neg == -self.e_pos:
            changes["e_neg"] = None
        return dataclasses.replace(self, **changes)

    def grid_args(self, training: bool) -> tuple[int, float | None]:
        """``(M, offset)`` for the DSTD functions: ``None`` offset = random, ``0.0`` = fixed grid."""
        steps = self.steps if training or self.eval_steps is None else self.eval_steps
        mode = self.offset if training or self.eval_offset is None else self.eval_offset
        return steps, (None if mode == "random" else 0.0)
