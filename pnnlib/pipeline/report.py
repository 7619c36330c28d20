"""figures/REPORT.md: per paper figure and table, the files made, the paper's numbers beside ours
with the scale each rests on, and every claim of the paper as a verdict.

Run by the pipeline's ``report`` rule (``rules/report.smk``)::

    python -m pnnlib.pipeline.report --manifest '<json>' --out figures/REPORT.md

Inputs, and nothing else:

* ``config/paper_values.yaml`` — every number and claim the paper states, cited to the paper
  notes (references only: never used by a computation);
* the *manifest* (JSON from the Snakefile): profile, output roots, per wired stage its title,
  ``items`` (paper figure/table → files made) and ``values`` (the stage's records, written with
  :class:`pnnlib.pipeline.record.Record`), optionally ``extensions`` (figures/tables of our
  studies beyond the paper → files; with the ``extensions`` claims of ``paper_values.yaml`` they
  make the section "Beyond the paper"), and the file of the paper profile's plan
  (:mod:`pnnlib.experiments.plans`: how many of the paper profile's runs each item needs and how
  many the archive holds).

Verdicts follow :func:`pnnlib.pipeline.claims.verdict`. A reproduced number computed at reduced
scale is never subtracted from the paper's: its difference reads "not comparable (reduced
scale)". The closing section counts verdicts and says no more than the counts. The output is
deterministic (no timestamps).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pnnlib.pipeline.claims import CONFIRMED, INCONCLUSIVE, REFUTED, ClaimSpec, Estimate, claim_specs, verdict
from pnnlib.pipeline.record import PAPER_VALUES, Scale, load_paper_values, load_record

__all__ = ["build_report", "main", "markdown_table"]


# --------------------------------------------------------------------------- formatting


def _is_num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return f"{x:.{digits}g}" if math.isfinite(x) else str(x)
    return str(x)


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, Any]], caption: str = "") -> str:
    """Rows of equal keys as a Markdown table (numbers to 4 significant digits, ``None`` as —)."""
    if not rows:
        return (caption + "\n\n" if caption else "") + "(no rows)\n"
    cols = list(rows[0])
    for r in rows[1:]:
        cols += [k for k in r if k not in cols]
    lines = ([caption, ""] if caption else []) + [
        "| " + " | ".join(_md(c) for c in cols) + " |",
        "|" + "---|" * len(cols),
    ]
    for r in rows:
        lines.append("| " + " | ".join(_md(_fmt(r.get(c))) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def _with_unit(text: str, unit: str) -> str:
    if not unit:
        return text
    return f"{text}{unit}" if unit == "×" else f"{text} {unit}"


def _label(item_id: str) -> str:
    if item_id.startswith("fig"):
        return f"Fig. {item_id[3:]}"
    if item_id.startswith("table"):
        return f"Table {item_id[5:]}"
    return item_id


def _rel(path: str, out_dir: Path, root: Path) -> str:
    try:
        return os.path.relpath(root / path, out_dir)
    except ValueError:
        return path


def _estimate_text(est: Estimate | None) -> str:
    if est is None:
        return "—"
    if est.lo is None:
        return f"{est.mean:+.3g} (n = {est.n}; no interval)"
    return f"{est.mean:+.3g} [{est.lo:+.3g}, {est.hi:+.3g}] (n = {est.n})"


def _difference(paper: Any, relation: str, value: Any, scale: Scale, unit: str) -> str:
    if not (_is_num(paper) and _is_num(value)):
        return "—"
    if scale.kind == "reduced":
        return "not comparable (reduced scale)"
    diff = value - paper
    if relation == "≤":
        return f"{'✓' if value <= paper else '✗'} ({diff:+.3g})"
    if relation == "≥":
        return f"{'✓' if value >= paper else '✗'} ({diff:+.3g})"
    if unit == "%":
        return f"{diff:+.3g} points"
    return f"{diff:+.3g}" + (f" ({100 * diff / abs(paper):+.0f} %)" if paper != 0 else "")


# --------------------------------------------------------------------------- collecting


def _collect(manifest: Mapping[str, Any], root: Path) -> tuple[dict[str, list], dict[str, list], dict[str, Any]]:
    """Values and claims by key (each a list: one entry per record and scale) and per-stage extras."""
    values: dict[str, list] = {}
    claims: dict[str, list] = {}
    extras: dict[str, Any] = {}
    for stage, info in manifest.get("stages", {}).items():
        for path in info.get("values", []):
            p = root / path
            if not p.is_file():
                continue
            rec = load_record(p)
            for key, entries in rec["values"].items():
                values.setdefault(key, []).extend(entries)
            for key, entries in rec["claims"].items():
                claims.setdefault(key, []).extend(entries)
            ex = extras.setdefault(stage, {"tables": {}, "numbers": {}})
            for name, table in rec["tables"].items():
                # two records of a stage (e.g. this profile's runs and the archive's) may each
                # have a table of the same name: keep both, the later one named by its file
                ex["tables"][name if name not in ex["tables"] else f"{name} ({path})"] = table
            for name, number in rec["numbers"].items():
                ex["numbers"][name if name not in ex["numbers"] else f"{name} ({path})"] = number
    return values, claims, extras


def _claim_rows(spec: ClaimSpec, entries: list[dict[str, Any]]) -> list[tuple[str, str, Estimate | None, Scale, str]]:
    """(verdict, reason, estimate, scale, note) per recorded entry of a claim (paper scale first)."""
    out = []
    for e in entries:
        est = Estimate.from_json(e["estimate"]) if e.get("estimate") else None
        v, why = verdict(spec, est)
        if est is None and e.get("note"):
            why = e["note"]
        out.append((v, why, est, Scale.from_json(e.get("scale")), e.get("note", "")))
    return sorted(out, key=lambda r: r[3].kind != "paper")


def _claims_table(
    keys: Sequence[str], specs: Mapping[str, ClaimSpec], claims: Mapping[str, list], side_header: str
) -> list[str]:
    """Markdown lines of a claims table: claim, statistic, side, estimate, verdict, scale."""
    lines = [
        f"| claim | statistic | {side_header} | estimate [95 % interval] | verdict | scale |",
        "|---|---|---|---|---|---|",
    ]
    for key in keys:
        spec = specs[key]
        rows = _claim_rows(spec, claims.get(key, []))
        if not rows:
            lines.append(
                f"| {_md(spec.text)} | {_md(spec.statistic)} | {_md(spec.paper_side())} | — | "
                "not computed by this profile | — |"
            )
        for v, why, est, sc, _note in rows:
            lines.append(
                f"| {_md(spec.text)} | {_md(spec.statistic)} | {_md(spec.paper_side())} | "
                f"{_md(_estimate_text(est))} | **{v}** ({_md(why)}) | {_md(sc.text)} |"
            )
    return [*lines, ""]


# --------------------------------------------------------------------------- the report


def build_report(paper_values: Mapping[str, Any], manifest: Mapping[str, Any], root: Path, out_path: Path) -> str:
    """The Markdown text of the report."""
    values, claims, extras = _collect(manifest, root)
    specs = claim_specs(paper_values)
    out_dir = (root / out_path).parent if not out_path.is_absolute() else out_path.parent
    profile = manifest.get("profile", "?")
    stages = manifest.get("stages", {})
    plan_file = root / manifest["paper_plan"] if manifest.get("paper_plan") else None
    cover = json.loads(plan_file.read_text()).get("coverage", {}) if plan_file and plan_file.is_file() else {}
    made_by: dict[str, tuple[list[str], list[str]]] = {}
    for stage, info in stages.items():
        for item, files in info.get("items", {}).items():
            s, f = made_by.setdefault(item, ([], []))
            s.append(stage)
            f.extend(files)
    items = paper_values["items"]

    # verdicts per claim: the paper-scale entry decides when there is one, else the reduced-scale one
    decided: dict[str, tuple[str, str]] = {}
    for key, spec in specs.items():
        rows = _claim_rows(spec, claims.get(key, []))
        decided[key] = (rows[0][0], rows[0][3].kind) if rows else ("not run", "—")
    counts = Counter((v, k) for v, k in decided.values())
    n_claims = len(specs)

    def n(v: str, kind: str | None = None) -> int:
        return sum(c for (vv, kk), c in counts.items() if vv == v and (kind is None or kk == kind))

    summary = (
        f"Of the paper's {n_claims} claims, **{n(CONFIRMED, 'paper')} confirmed at paper scale**, "
        f"{n(CONFIRMED, 'reduced') + n(CONFIRMED, 'n/a')} confirmed at reduced scale or by a measurement "
        f"without training, **{n(REFUTED)} refuted** ({n(REFUTED, 'paper')} of them at paper scale), "
        f"{n(INCONCLUSIVE)} inconclusive, {n('not run')} not computed by this profile."
    )
    lines = [
        "# Paper versus reproduction",
        "",
        "Generated by the pipeline (`snakemake`, rule `report`; `pnnlib/pipeline/report.py`). Do not edit by hand.",
        "",
        f"* **Profile:** `{profile}` (`{manifest.get('profile_file', '')}`)",
        f"* **Results:** `{manifest.get('results_dir', '')}/`; **figures:** `{manifest.get('figures_dir', '')}/`"
        + (
            "; paper-scale runs from the committed `archive/` (figures in `paper_scale/`)"
            if any("paper_scale" in f for _, fs in made_by.values() for f in fs)
            else ""
        ),
        f"* **Paper values and claims:** `config/paper_values.yaml` ({paper_values.get('source', '')}); "
        "references only, nothing is fitted to them.",
        "* **Scale:** every reproduced number and claim says what it rests on (training images, epochs, seeds, "
        "width, test M). *Paper scale* = every run has the paper profile's settings; a number at *reduced scale* is "
        "not subtracted from the paper's. A run within 3 points of chance is flagged (⚠) and decides no claim.",
        "* **Verdicts:** each claim's statistic with its 95 % interval (Student t over seeds, paired by seed "
        "where two conditions are compared; bootstrap over samples for the circuit): *confirmed* if the interval "
        "lies on the paper's side, *refuted* if on the other side, *inconclusive* if it straddles, or with one "
        "seed (no interval) or a run at chance.",
        "* Regenerate: `snakemake --cores N --config profile=smoke|quick|paper` (`recompute=true` retrains what "
        "the archive holds).",
        "",
        "## Verdicts at a glance",
        "",
        summary,
        "",
        "| paper | claims | confirmed (paper / reduced scale) | refuted | inconclusive | not computed | "
        "paper-profile runs it rests on, in the archive |",
        "|---|---|---|---|---|---|---|",
    ]
    for item_id in items:
        keys = [k for k, s in specs.items() if s.item == item_id]
        cov = cover.get(item_id)
        cov_txt = f"{cov['archived']} of {cov['paper_runs']}" if cov else "—"
        if not keys and not cov:
            continue
        c = Counter(decided[k] for k in keys)
        conf = (
            f"{sum(v for (a, b), v in c.items() if a == CONFIRMED and b == 'paper')} / "
            f"{sum(v for (a, b), v in c.items() if a == CONFIRMED and b != 'paper')}"
        )
        lines.append(
            f"| {_label(item_id)} | {len(keys)} | {conf} | {sum(v for (a, _), v in c.items() if a == REFUTED)}"
            f" | {sum(v for (a, _), v in c.items() if a == INCONCLUSIVE)} | "
            f"{sum(v for (a, _), v in c.items() if a == 'not run')} | {cov_txt} |"
        )
    lines += ["", "## Overview", "", "| paper | what | status | made by stage |", "|---|---|---|---|"]
    for item_id, item in items.items():
        if item_id in made_by:
            status = f"made ({len(made_by[item_id][1])} files)"
            stage = ", ".join(made_by[item_id][0])
        elif item.get("kind") == "schematic":
            stage, status = "—", "schematic (not a computed result)"
        else:
            stage, status = "—", "**not made by this profile**"
        lines.append(f"| {_label(item_id)} | {_md(item.get('title', ''))} | {status} | {stage} |")
    lines.append("")

    for item_id, item in items.items():
        keys = [k for k, s in specs.items() if s.item == item_id]
        if item.get("kind") == "schematic" and not item.get("values") and item_id not in made_by:
            continue
        lines += [f"## {_label(item_id)} — {item.get('title', '')}", ""]
        if item_id in made_by:
            names, files = made_by[item_id]
            links = ", ".join(
                f"[`{os.path.relpath(f, manifest.get('figures_dir', '.'))}`]({_rel(f, out_dir, root)})" for f in files
            )
            lines += [f"Made by stage{'s' if len(names) > 1 else ''} {', '.join(f'`{x}`' for x in names)}: {links}", ""]
        elif item.get("kind") == "schematic":
            lines += ["A schematic or layout in the paper, not a computed result.", ""]
        else:
            lines += ["**Not made by this profile.**", ""]
        if item_id in cover:
            lines += [
                f"Rests on {cover[item_id]['paper_runs']} runs of the paper profile; the archive holds "
                f"{cover[item_id]['archived']} of them.",
                "",
            ]
        if item.get("note"):
            lines += [f"_{item['note']}_", ""]
        vals = item.get("values") or []
        if vals:
            lines += [
                "| quantity | paper | reproduced | scale | difference | notes | source |",
                "|---|---|---|---|---|---|---|",
            ]
            for v in vals:
                unit, relation = v.get("unit", ""), v.get("relation", "=")
                paper_txt = _with_unit(f"{'' if relation == '=' else relation}{_fmt(v['paper'])}", unit)
                entries = sorted(
                    values.get(f"{item_id}.{v['key']}", []),
                    key=lambda e: Scale.from_json(e.get("scale")).kind != "paper",
                )
                if not entries:
                    cells = [v["quantity"], paper_txt, "—", "—", "—", v.get("note", ""), v.get("spec", "")]
                    lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
                for e in entries:
                    sc = Scale.from_json(e.get("scale"))
                    repro = _fmt(e["value"])
                    if _is_num(e.get("std")):
                        repro += f" ± {_fmt(e['std'], 2)}"
                    repro = _with_unit(repro, unit) if _is_num(e["value"]) else repro
                    if e.get("n") is not None:
                        repro += f" (n = {e['n']})"
                    if e.get("at_chance"):
                        repro += " ⚠ at chance"
                    notes = "; ".join(x for x in (e.get("note"), v.get("note")) if x)
                    cells = [
                        v["quantity"],
                        paper_txt,
                        repro,
                        sc.text,
                        _difference(v["paper"], relation, e["value"], sc, unit),
                        notes,
                        v.get("spec", ""),
                    ]
                    lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
            lines.append("")
        if keys:
            lines += _claims_table(keys, specs, claims, "paper's side")

    ext_specs = claim_specs(paper_values, "extensions")
    ext_files = [
        (stage, ext, files) for stage, info in stages.items() for ext, files in (info.get("extensions") or {}).items()
    ]
    ext_decided = {k: (_claim_rows(s, claims.get(k, [])) or [("not run",)])[0][0] for k, s in ext_specs.items()}
    if ext_files or any(claims.get(k) for k in ext_specs):
        lines += [
            "## Beyond the paper",
            "",
            "Studies the paper does not make (our extensions). Their claims are decided like the paper's "
            "and never counted among them; their own tables and numbers are listed under their stage below.",
            "",
        ]
        if ext_files:
            lines += ["| extension | made by stage | files |", "|---|---|---|"]
            for stage, ext, files in ext_files:
                links = ", ".join(f"[`{Path(f).name}`]({_rel(f, out_dir, root)})" for f in files)
                lines.append(f"| {_md(ext)} | `{stage}` | {links} |")
            lines.append("")
        for study, entry in (paper_values.get("extensions") or {}).items():
            keys = [k for k, s in ext_specs.items() if s.item == study]
            if not any(claims.get(k) for k in keys):
                continue
            issue = f" (issue {entry['issue']})" if entry.get("issue") else ""
            lines += [f"### {_md(entry.get('title', study))}{issue}", ""]
            lines += _claims_table(keys, ext_specs, claims, "claimed side")
            c = Counter(ext_decided[k] for k in keys)
            overall = CONFIRMED if c[CONFIRMED] == len(keys) else REFUTED if c[REFUTED] else INCONCLUSIVE
            lines += [
                f"Taken together: **{overall}** ({c[CONFIRMED]} of {len(keys)} parts confirmed, "
                f"{c[REFUTED]} refuted, {c[INCONCLUSIVE]} inconclusive, {c['not run']} not computed; the "
                "whole holds only if every part is confirmed).",
                "",
            ]

    tables = {s: ex for s, ex in extras.items() if ex["tables"] or ex["numbers"]}
    if tables:
        lines += ["## The stages' own tables and numbers", ""]
        for stage, ex in tables.items():
            lines += [f"### {stages[stage].get('title', stage)} (stage `{stage}`)", ""]
            for name, t in ex["tables"].items():
                lines += [markdown_table(t["rows"], f"**{name}** — {t.get('caption', '')}".rstrip(" —"))]
            if ex["numbers"]:
                lines += ["| quantity | value |", "|---|---|"]
                lines += [f"| {_md(k)} | {_md(_fmt(v))} |" for k, v in ex["numbers"].items()]
                lines.append("")
    not_made = [i for i, it in items.items() if i not in made_by and it.get("kind") != "schematic"]
    lines += ["## What this report shows, and what it does not", "", summary, ""]
    if not_made:
        lines += [f"Not made by this profile: {', '.join(_label(i) for i in not_made)}.", ""]
    open_claims = [k for k, (v, _) in decided.items() if v != CONFIRMED]
    if open_claims:
        lines += [
            "Claims not confirmed here: "
            + ", ".join(f"{_label(specs[k].item)} `{specs[k].id}` ({decided[k][0]})" for k in open_claims)
            + ".",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: write the report."""
    parser = argparse.ArgumentParser(prog="python -m pnnlib.pipeline.report", description=__doc__.splitlines()[0])
    parser.add_argument("--paper-values", default=str(PAPER_VALUES))
    parser.add_argument("--manifest", required=True, help="JSON (or @file) from the Snakefile")
    parser.add_argument("--out", required=True)
    parser.add_argument("--root", default=".", help="repository root the manifest's paths are relative to")
    args = parser.parse_args(argv)
    manifest = json.loads(Path(args.manifest[1:]).read_text() if args.manifest.startswith("@") else args.manifest)
    out = Path(args.out)
    text = build_report(load_paper_values(args.paper_values), manifest, Path(args.root).resolve(), out)
    from pnnlib.io import write_text_atomic

    write_text_atomic(out, text + "\n")
    print(f"[report] wrote {out} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
