r"""The paper's qualitative claims as tested verdicts.

Every claim of ``config/paper_values.yaml`` (``items.<item>.claims``) names the statistic that
decides it and the side the paper puts it on::

    - id: pnn_beats_ann_e1
      text: "(f) the ANN degrades strongly ..."
      statistic: "PNN − ANN test accuracy at |E| = 1 (M = 15, random offset), points"
      side: ">"          # ">" / "<" a threshold, or "within" a band [lo, hi]
      threshold: 0
      spec: "§5 Fig. 4f"

A stage computes the statistic from its runs as an :class:`Estimate` (a mean with a 95 %
interval: Student-t over seeds, paired by seed where two conditions are compared, or a bootstrap
over samples) and records it with its scale (:mod:`pnnlib.pipeline.record`). :func:`verdict` then
decides:

* **confirmed** — the whole interval lies on the paper's side;
* **refuted** — the whole interval lies on the other side;
* **inconclusive** — the interval straddles the threshold, or there is no interval (one seed), or
  a run the statistic rests on is at chance (within :data:`CHANCE_MARGIN` of 1/classes: it
  cannot decide anything).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "CHANCE_MARGIN",
    "CONFIRMED",
    "INCONCLUSIVE",
    "REFUTED",
    "VERDICTS",
    "ClaimSpec",
    "Estimate",
    "at_chance",
    "bootstrap",
    "claim_specs",
    "paired",
    "seeds_estimate",
    "verdict",
]

CONFIRMED, REFUTED, INCONCLUSIVE = "confirmed", "refuted", "inconclusive"
VERDICTS = (CONFIRMED, REFUTED, INCONCLUSIVE)

CHANCE_MARGIN = 0.03
"""A run whose test accuracy is within 3 points of chance (1/classes) never decides a claim."""


@dataclass(frozen=True)
class ClaimSpec:
    """One claim of ``paper_values.yaml``: its text, the statistic, and the paper's side."""

    item: str
    id: str
    text: str
    statistic: str
    side: str
    threshold: float | None = None
    band: tuple[float, float] | None = None
    spec: str = ""

    @property
    def key(self) -> str:
        """``<item>.<id>``, the key a stage records the claim's estimate under."""
        return f"{self.item}.{self.id}"

    def paper_side(self) -> str:
        """The paper's side in words, e.g. ``> 0`` or ``within [-1, 1]``."""
        if self.side == "within":
            return f"within [{self.band[0]:g}, {self.band[1]:g}]"
        return f"{self.side} {self.threshold:g}"


def claim_specs(paper_values: Mapping[str, Any], section: str = "items") -> dict[str, ClaimSpec]:
    """Every claim of a parsed ``paper_values.yaml`` by key ``<item>.<id>``: the paper's
    (``section="items"``) or those of our studies beyond the paper (``section="extensions"``).

    Raises:
        ValueError: a claim lacks a field, has an unknown side, or repeats an id.
    """
    out: dict[str, ClaimSpec] = {}
    for item, entry in (paper_values.get(section) or {}).items():
        for c in entry.get("claims") or []:
            where = f"paper_values.yaml: {section}.{item}.claims"
            if not isinstance(c, Mapping) or not {"id", "text", "statistic", "side"} <= set(c):
                raise ValueError(f"{where}: every claim needs id, text, statistic and side, got {c!r}")
            side = c["side"]
            if side in (">", "<"):
                if not isinstance(c.get("threshold"), int | float):
                    raise ValueError(f"{where}.{c['id']}: side {side!r} needs a numeric threshold")
                spec = ClaimSpec(
                    item,
                    c["id"],
                    c["text"],
                    c["statistic"],
                    side,
                    threshold=float(c["threshold"]),
                    spec=c.get("spec", ""),
                )
            elif side == "within":
                band = c.get("band")
                if not (isinstance(band, Sequence) and len(band) == 2 and band[0] < band[1]):
                    raise ValueError(f"{where}.{c['id']}: side 'within' needs band: [lo, hi] with lo < hi")
                spec = ClaimSpec(
                    item,
                    c["id"],
                    c["text"],
                    c["statistic"],
                    side,
                    band=(float(band[0]), float(band[1])),
                    spec=c.get("spec", ""),
                )
            else:
                raise ValueError(f"{where}.{c['id']}: side must be '>', '<' or 'within', got {side!r}")
            if spec.key in out:
                raise ValueError(f"{where}: claim id {c['id']!r} appears twice")
            out[spec.key] = spec
    return out


@dataclass(frozen=True)
class Estimate:
    """A statistic's value with its 95 % interval (``lo``/``hi`` are ``None`` without one)."""

    mean: float
    lo: float | None
    hi: float | None
    n: int
    method: str
    samples: tuple[float, ...] = field(default=())
    at_chance: bool = False
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["samples"] = list(self.samples)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Estimate:
        return cls(**{**d, "samples": tuple(d.get("samples", ()))})


def seeds_estimate(samples: Sequence[float], *, at_chance: bool = False, note: str = "") -> Estimate:
    """Mean and Student-t 95 % interval of per-seed values (no interval with one value)."""
    x = np.asarray([float(s) for s in samples if s is not None and math.isfinite(float(s))])
    if x.size == 0:
        raise ValueError("no finite samples to estimate from")
    mean = float(x.mean())
    if x.size < 2:
        return Estimate(mean, None, None, 1, "one seed: no interval", tuple(x.tolist()), at_chance, note)
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return Estimate(
        mean, mean - half, mean + half, int(x.size), f"t over {x.size} seeds", tuple(x.tolist()), at_chance, note
    )


def paired(a: Mapping[Any, float], b: Mapping[Any, float], *, at_chance: bool = False, note: str = "") -> Estimate:
    """``a − b`` paired by key (seed): the mean difference over the keys both have, with its
    Student-t interval."""
    keys = sorted(set(a) & set(b))
    if not keys:
        raise ValueError(f"no common seeds to pair (a: {sorted(a)}, b: {sorted(b)})")
    est = seeds_estimate([a[k] - b[k] for k in keys], at_chance=at_chance, note=note)
    return Estimate(
        est.mean, est.lo, est.hi, est.n, est.method.replace("seeds", "seeds, paired"), est.samples, at_chance, note
    )


def bootstrap(
    samples: Sequence[float] | np.ndarray,
    statistic: Any = np.mean,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    note: str = "",
) -> Estimate:
    """The statistic of ``samples`` (rows = independent units, e.g. test samples) with a
    percentile-bootstrap 95 % interval, seeded (the same call gives the same interval)."""
    x = np.asarray(samples, dtype=float)
    if len(x) < 2:
        raise ValueError("a bootstrap needs at least 2 samples")
    rng = np.random.default_rng(seed)
    boots = np.array([statistic(x[rng.integers(0, len(x), len(x))]) for _ in range(n_boot)])
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return Estimate(
        float(statistic(x)), float(lo), float(hi), int(len(x)), f"bootstrap over {len(x)} samples", (), False, note
    )


def at_chance(accuracy: float, n_classes: int) -> bool:
    """Whether a test accuracy (fraction) is within :data:`CHANCE_MARGIN` of chance."""
    return accuracy <= 1.0 / n_classes + CHANCE_MARGIN


def verdict(spec: ClaimSpec, est: Estimate | None) -> tuple[str, str]:
    """``(verdict, reason)`` for an estimate of the claim's statistic (see the module docstring)."""
    if est is None:
        return INCONCLUSIVE, "not computed at this scale"
    if est.at_chance:
        return INCONCLUSIVE, "a run it rests on is at chance"
    if est.lo is None or est.hi is None:
        return INCONCLUSIVE, est.method
    lo, hi = est.lo, est.hi
    if spec.side == ">":
        if lo > spec.threshold:
            return CONFIRMED, "interval above the threshold"
        if hi < spec.threshold:
            return REFUTED, "interval below the threshold"
    elif spec.side == "<":
        if hi < spec.threshold:
            return CONFIRMED, "interval below the threshold"
        if lo > spec.threshold:
            return REFUTED, "interval above the threshold"
    else:
        a, b = spec.band
        if a <= lo and hi <= b:
            return CONFIRMED, "interval inside the band"
        if hi < a or lo > b:
            return REFUTED, "interval outside the band"
        return INCONCLUSIVE, "interval crosses the band's edge"
    return INCONCLUSIVE, "interval straddles the threshold"
