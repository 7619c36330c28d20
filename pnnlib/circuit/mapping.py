"""Weight <-> synaptic current <-> gate bias mapping (paper Sec. 1.7-1.8, App. A.2).

A weight w_ij (post-synaptic neuron i, pre-synaptic input j) is realised as

* current: I_ij = alpha^sign C_m V_th^circ |w_ij| / T_circ  (Sec. 1.8 step 2;
  one weight unit is 140 fF * 0.872 V / 1 us = 122 nA), with the per-sign
  current scales (alpha^+, alpha^-) of the paper's 2-D (ANN-to-IMC) or 1-D
  (PNN-to-IMC, alpha^+ = alpha^-) scaling;
* transistor: the NMOS weight transistor NM_ij for w > 0 (excitatory, sinks
  current from the membrane), the PMOS weight transistor PM_ij for w < 0
  (inhibitory, sources current into it); the other one is off (gate at 0 V for
  NMOS, V_dd for PMOS), and both are off for w = 0;
* bias: the gate voltage at which the synapse (as wired) conducts that current
  with its drain at V0 = 1.3 V, found by monotone (PCHIP) interpolation of the
  characterised I_D(V_G) table in log-current.

A weight whose current lies outside the table's range raises ``ValueError``
naming the weight; nothing is clipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator

from .netlist import LayerBiases
from .params import CircuitParams


def _scales(scale: float | Sequence[float]) -> tuple[float, float]:
    """(alpha^+, alpha^-) from a scalar (1-D scaling) or a pair (2-D scaling)."""
    if np.ndim(scale) == 0:
        a_pos = a_neg = float(scale)  # type: ignore[arg-type]
    else:
        a_pos, a_neg = (float(x) for x in scale)  # type: ignore[union-attr]
    if not (a_pos > 0 and a_neg > 0):
        raise ValueError(f"current scales must be positive, got {scale}")
    return a_pos, a_neg


@dataclass(frozen=True)
class IdVgTable:
    """Drain-current magnitude versus gate voltage at a fixed drain voltage.

    Attributes:
        vg: gate voltages [V], increasing.
        current: |I_D| [A] at each gate voltage.
        polarity: ``"n"`` (current rises with V_G) or ``"p"`` (falls with V_G).
        v_off: gate voltage that switches the transistor off (0 V or V_dd).
    """

    vg: np.ndarray
    current: np.ndarray
    polarity: str
    v_off: float

    def _monotone(self) -> tuple[np.ndarray, np.ndarray]:
        """The part of the table where |I| is strictly monotone in V_G, taken from
        the strongly-on end (the off end ends in a noisy leakage floor)."""
        vg, i = np.asarray(self.vg, float), np.abs(np.asarray(self.current, float))
        if self.polarity == "p":
            vg, i = vg[::-1], i[::-1]
        # walk down from the strongly-on end while the current keeps falling
        k = len(i) - 1
        while k > 0 and 0 < i[k - 1] < i[k]:
            k -= 1
        vg, i = vg[k:], i[k:]
        if len(i) < 4:
            raise ValueError("I_D(V_G) table has fewer than 4 monotone points")
        return vg, i

    @property
    def current_range(self) -> tuple[float, float]:
        """Smallest and largest realisable current [A]."""
        _, i = self._monotone()
        return float(i[0]), float(i[-1])

    def bias_for_current(self, current: np.ndarray) -> np.ndarray:
        """Gate voltage giving each |current| (must lie in ``current_range``)."""
        vg, i = self._monotone()
        f = PchipInterpolator(np.log(i), vg, extrapolate=False)
        return f(np.log(np.asarray(current, float)))

    def current_at_bias(self, vg: np.ndarray) -> np.ndarray:
        """|I_D| at each gate voltage; 0 at the off voltage, ``nan`` outside the table."""
        vgt, i = self._monotone()
        order = np.argsort(vgt)
        f = PchipInterpolator(vgt[order], np.log(i[order]), extrapolate=False)
        vg = np.asarray(vg, float)
        out = np.exp(f(vg))
        return np.where(np.isclose(vg, self.v_off), 0.0, out)

    def to_dict(self) -> dict[str, object]:
        return {
            "vg": np.asarray(self.vg).tolist(),
            "current": np.asarray(self.current).tolist(),
            "polarity": self.polarity,
            "v_off": self.v_off,
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> IdVgTable:
        return cls(
            vg=np.asarray(d["vg"], float),
            current=np.asarray(d["current"], float),
            polarity=str(d["polarity"]),
            v_off=float(d["v_off"]),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class WeightMapping:
    """Weights <-> gate biases through the characterised synapse tables.

    Attributes:
        nmos: I_D(V_G) of the NMOS synapse branch at V_D = V0.
        pmos: I_D(V_G) of the PMOS synapse branch at V_D = V0.
        params: circuit parameters (C_m, V_th^circ, T_circ).
    """

    nmos: IdVgTable
    pmos: IdVgTable
    params: CircuitParams

    @property
    def unit_current(self) -> float:
        """Current of one weight unit, C_m V_th^circ / T_circ [A]."""
        return self.params.unit_current

    def weight_to_current(self, w: np.ndarray, scale: float | Sequence[float] = 1.0) -> np.ndarray:
        """Signed synaptic current alpha^sign C_m V_th w / T_circ [A] (positive:
        NMOS sinks from the membrane, negative: PMOS sources into it)."""
        a_pos, a_neg = _scales(scale)
        w = np.asarray(w, float)
        return np.where(w >= 0, a_pos, a_neg) * w * self.unit_current

    def current_to_weight(self, i: np.ndarray, scale: float | Sequence[float] = 1.0) -> np.ndarray:
        """Inverse of :meth:`weight_to_current`."""
        a_pos, a_neg = _scales(scale)
        i = np.asarray(i, float)
        return i / (np.where(i >= 0, a_pos, a_neg) * self.unit_current)

    def weights_to_biases(self, w: np.ndarray, scale: float | Sequence[float] = 1.0, name: str = "w") -> LayerBiases:
        """Gate biases (V_N, V_P) for a weight matrix ``w`` of shape (n_out, n_in).

        Raises:
            ValueError: a weight is not finite or needs a current outside the
                realisable range of its transistor; the message names the first
                such weight's index and value.
        """
        w = np.asarray(w, float)
        if w.ndim != 2:
            raise ValueError(f"{name} must be a 2-D (n_out, n_in) matrix, got shape {w.shape}")
        bad = np.argwhere(~np.isfinite(w))
        if bad.size:
            idx = tuple(int(x) for x in bad[0])
            raise ValueError(f"{name}{list(idx)} = {w[idx]} is not finite")
        i = self.weight_to_current(w, scale)
        v_n = np.full(w.shape, self.nmos.v_off)
        v_p = np.full(w.shape, self.pmos.v_off)
        for table, mask, out, kind in (
            (self.nmos, w > 0, v_n, "NMOS"),
            (self.pmos, w < 0, v_p, "PMOS"),
        ):
            if not mask.any():
                continue
            lo, hi = table.current_range
            mag = np.abs(i[mask])
            outside = (mag < lo) | (mag > hi)
            if outside.any():
                idx = tuple(int(x) for x in np.argwhere(mask)[np.flatnonzero(outside)[0]])
                raise ValueError(
                    f"{name}{list(idx)} = {w[idx]:.6g} needs |I| = {abs(i[idx]):.4g} A, outside "
                    f"the realisable range [{lo:.3g}, {hi:.3g}] A of the {kind} synapse "
                    f"(weights {lo / self.unit_current:.3g} to {hi / self.unit_current:.3g} "
                    "at scale 1)"
                )
            out[mask] = table.bias_for_current(mag)
        return LayerBiases(v_n=v_n, v_p=v_p)

    def biases_to_weights(self, biases: LayerBiases, scale: float | Sequence[float] = 1.0) -> np.ndarray:
        """Weights realised by gate biases (inverse of :meth:`weights_to_biases`).

        A synapse whose both transistors conduct is reported as the net current.
        """
        i_n = self.nmos.current_at_bias(biases.v_n)
        i_p = self.pmos.current_at_bias(biases.v_p)
        return self.current_to_weight(i_n - i_p, scale)

    def weight_range(self, scale: float | Sequence[float] = 1.0) -> tuple[float, float, float, float]:
        """Realisable weights: (most negative, least negative, least positive, most positive)."""
        a_pos, a_neg = _scales(scale)
        n_lo, n_hi = self.nmos.current_range
        p_lo, p_hi = self.pmos.current_range
        u = self.unit_current
        return (-p_hi / (a_neg * u), -p_lo / (a_neg * u), n_lo / (a_pos * u), n_hi / (a_pos * u))
