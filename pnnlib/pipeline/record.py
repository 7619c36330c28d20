"""The one reporting contract: how a stage hands its numbers to ``figures/REPORT.md``.

A stage (an aggregation notebook) fills a :class:`Record` and saves it as JSON; the report reads
nothing else. Every key is checked against ``config/paper_values.yaml`` when it is recorded, so a
mistyped key is an error at once, not a silently missing row:

* :meth:`Record.value` — a number the paper states (``items.<item>.values[].key``), e.g.
  ``fig7.rmse_pnn``;
* :meth:`Record.claim` — the estimate of a claim's statistic (``items.<item>.claims[].id``), e.g.
  ``fig4.pnn_beats_ann_e1`` (see :mod:`pnnlib.pipeline.claims`), or of a claim of our studies
  beyond the paper (``extensions.<study>.claims[].id``, e.g. ``ext_conditions.advantage_mismatch``);
* :meth:`Record.table` — a stage's own table (rows of equal keys), rendered as Markdown;
* :meth:`Record.number` — a stage's own scalar with no paper counterpart.

Each value and claim carries the **scale** it was computed at (:class:`Scale`: training images,
epochs, seeds, width, test M; ``paper`` when every run it rests on has the paper profile's
settings), so the report never compares a reduced-scale number with the paper's as if it were one.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from pnnlib.io import read_json, write_json_atomic
from pnnlib.pipeline.claims import Estimate, claim_specs
from pnnlib.pipeline.profiles import REPO_ROOT

__all__ = ["PAPER_VALUES", "Record", "Scale", "load_paper_values", "load_record"]

PAPER_VALUES = REPO_ROOT / "config" / "paper_values.yaml"


def load_paper_values(path: str | Path = PAPER_VALUES) -> dict[str, Any]:
    """The parsed ``paper_values.yaml`` (aliases refused, like every config of the project)."""
    text = Path(path).read_text()
    return yaml.safe_load(text) or {}


@dataclass(frozen=True)
class Scale:
    """What a number rests on. ``kind`` is ``"paper"`` (every run has the paper profile's
    settings), ``"reduced"`` (smaller data, fewer epochs or seeds, narrower networks, another test
    M) or ``"n/a"`` (no training: a device sweep, a benchmark)."""

    kind: str
    text: str
    train_images: int | None = None
    epochs: int | None = None
    seeds: int | None = None
    width: float | None = None
    test_m: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None) -> Scale:
        return cls(**d) if d else cls("n/a", "—")

    @classmethod
    def of_runs(
        cls, configs: Sequence[Mapping[str, Any]], n_train: Sequence[int], paper: bool, source: str = ""
    ) -> Scale:
        """The scale of a set of runs (their configs and training-set sizes); ``paper`` when all of
        them match the paper profile's plan."""
        if not configs:
            return cls("n/a", "no runs")
        seeds = len({c["seed"] for c in configs})
        epochs = sorted({int(c["epochs"]) for c in configs})
        images = sorted({int(n) for n in n_train})
        widths = sorted({float(c.get("width", 1.0)) for c in configs})
        test_m = sorted({int(c["eval_steps"]) for c in configs})
        parts = [
            f"{'/'.join(f'{n:,}' for n in images)} training images",
            f"{'/'.join(map(str, epochs))} epoch{'s' if epochs != [1] else ''}",
            f"{seeds} seed{'s' if seeds > 1 else ''}",
            f"test M = {'/'.join(map(str, test_m))}",
        ]
        if widths != [1.0]:
            parts.insert(2, f"width ×{'/'.join(f'{w:g}' for w in widths)}")
        kind = "paper" if paper else "reduced"
        text = f"{kind} scale: " + ", ".join(parts) + (f" ({source})" if source else "")
        return cls(kind, text, images[-1], epochs[-1], seeds, widths[-1], test_m[-1])


NO_TRAINING = Scale("n/a", "no training (device, circuit or benchmark measurement)")


class Record:
    """The values, claims and tables of one stage (see the module docstring)."""

    def __init__(self, stage: str, scale: Scale = NO_TRAINING, paper_values: str | Path | Mapping = PAPER_VALUES):
        pv = paper_values if isinstance(paper_values, Mapping) else load_paper_values(paper_values)
        self.stage = stage
        self.scale = scale
        self.paper_values = pv
        self._value_keys = {
            f"{item}.{v['key']}" for item, e in (pv.get("items") or {}).items() for v in e.get("values") or []
        }
        self._claim_keys = set(claim_specs(pv)) | set(claim_specs(pv, "extensions"))
        self.values: dict[str, list[dict[str, Any]]] = {}
        self.claims: dict[str, list[dict[str, Any]]] = {}
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.numbers: dict[str, Any] = {}

    @property
    def claim_keys(self) -> set[str]:
        """The claim keys of ``paper_values.yaml`` (the paper's and our extensions')."""
        return set(self._claim_keys)

    @staticmethod
    def _check(key: str, known: set[str], what: str) -> None:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise KeyError(f"{key!r} is not a {what} of config/paper_values.yaml{hint} (add it there first)")

    def value(
        self,
        key: str,
        value: float | str | None,
        *,
        std: float | None = None,
        n: int | None = None,
        note: str = "",
        scale: Scale | None = None,
        at_chance: bool = False,
    ) -> None:
        """Record a number the paper states (``<item>.<key>``); several scales may each add one.
        ``at_chance``: a run it rests on is at chance (the report flags it)."""
        self._check(key, self._value_keys, "value")
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        self.values.setdefault(key, []).append(
            {
                "value": value,
                "std": std,
                "n": n,
                "note": note,
                "scale": (scale or self.scale).to_json(),
                "at_chance": at_chance,
            }
        )

    def claim(self, key: str, estimate: Estimate | None, *, note: str = "", scale: Scale | None = None) -> None:
        """Record the estimate of a claim's statistic (``<item>.<claim id>``); ``None`` = it could
        not be computed at this scale (the note says why)."""
        self._check(key, self._claim_keys, "claim")
        self.claims.setdefault(key, []).append(
            {
                "estimate": None if estimate is None else estimate.to_json(),
                "note": note,
                "scale": (scale or self.scale).to_json(),
            }
        )

    def table(self, name: str, rows: Sequence[Mapping[str, Any]], caption: str = "") -> None:
        """A table of the stage's own (rows with the same keys; lists and dicts never go raw into the report)."""
        self.tables[name] = {"caption": caption, "rows": [dict(r) for r in rows]}

    def number(self, name: str, value: float | int | str) -> None:
        """A scalar of the stage's own (no paper counterpart)."""
        if isinstance(value, Mapping | list | tuple):
            raise TypeError(f"{name}: record lists and dicts with Record.table, not as a number")
        self.numbers[name] = value

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "scale": self.scale.to_json(),
            "values": self.values,
            "claims": self.claims,
            "tables": self.tables,
            "numbers": self.numbers,
        }

    def save(self, path: str | Path) -> Path:
        """Write the record (strict JSON, atomically)."""
        return write_json_atomic(path, self.to_json())


def load_record(path: str | Path) -> dict[str, Any]:
    """A saved record, checked for the fields the report reads."""
    d = read_json(path)
    missing = {"stage", "values", "claims", "tables", "numbers"} - set(d)
    if missing:
        raise ValueError(
            f"{path} is not a stage record (missing {sorted(missing)}); stages save pnnlib.pipeline.record.Record"
        )
    return d
