"""figures/REPORT.md: for every paper figure and table, the files the pipeline made, the profile
that made them, and the paper's numbers next to the reproduced ones.

Run by the pipeline's ``report`` rule (``rules/report.smk``)::

    python -m pnnlib.pipeline.report --paper-values config/paper_values.yaml --manifest '<json>' --out figures/REPORT.md

Inputs:

* ``config/paper_values.yaml`` — every number the paper states, per figure/table, each cited
  to a section of the paper notes (the "paper" column; never used by any computation);
* the *manifest* (JSON, built by the Snakefile from what ``rules/<stage>.smk`` register):
  profile, output roots, and per wired stage its title, ``items`` (paper figure/table →
  files made), ``values`` (JSON/CSV files holding reproduced numbers) and, optionally,
  ``extensions`` (figures/tables beyond the paper → files, listed in their own section).

Reproduced numbers are read from each stage's ``values`` files:

* the generic contract — a JSON file with a top-level ``"reproduced"`` mapping keyed
  ``"<item>.<key>"`` as in ``paper_values.yaml`` (e.g. ``"fig3.slope_vs_m"``), each value a
  number, a string, or ``{"mean": .., "std": .., "n": .., "note": ..}``;
* a stage adapter in :data:`ADAPTERS` for files written in the stage's own format;
* ``"stage_numbers"`` (any JSON top-level mapping of that name, or an adapter's output) are
  listed under the stage even when the paper states no number for them (e.g. the demo).

A paper item no wired stage makes is listed as "not yet reproduced"; schematic items
(drawings, layouts) are listed as such. The output is deterministic (no timestamps), so a
re-run with the same results gives the same file.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Reproduced", "ADAPTERS", "collect_reproduced", "build_report", "main"]


@dataclass(frozen=True)
class Reproduced:
    """One reproduced number: a value (or mean over seeds) with its std and count."""

    value: float | str
    std: float | None = None
    n: int | None = None
    note: str | None = None

    @classmethod
    def from_json(cls, obj: Any) -> Reproduced:
        """From a number, a string or ``{"mean"|"value": .., "std": .., "n": .., "note": ..}``."""
        if isinstance(obj, Mapping):
            value = obj.get("mean", obj.get("value"))
            return cls(value=value, std=obj.get("std"), n=obj.get("n"), note=obj.get("note"))
        return cls(value=obj)


# ---------------------------------------------------------------------------------------------
# reading the stages' files
# ---------------------------------------------------------------------------------------------


def _load(path: Path) -> Any:
    if path.suffix == ".json":
        return json.loads(path.read_text())
    if path.suffix == ".csv":
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh))
    raise ValueError(f"cannot read values from {path} (expected .json or .csv)")


def _generic(data: Any) -> tuple[dict[str, Reproduced], dict[str, Any]]:
    values: dict[str, Reproduced] = {}
    numbers: dict[str, Any] = {}
    if isinstance(data, Mapping):
        for key, obj in (data.get("reproduced") or {}).items():
            values[key] = Reproduced.from_json(obj)
        numbers.update(data.get("stage_numbers") or {})
    return values, numbers


def _demo(files: list[Path]) -> tuple[dict[str, Reproduced], dict[str, Any]]:
    """notebooks/demo.ipynb writes metrics.json: DSTD-vs-exact agreement and forward times."""
    numbers: dict[str, Any] = {}
    for path in files:
        m = _load(path)
        numbers["images"] = m.get("n_images")
        numbers["|E|, M, offset"] = f"{m.get('e_pos')}, {m.get('steps')}, {m.get('offset')}"
        numbers["device"] = m.get("device")
        for i, err in enumerate(m.get("mean_abs_spike_time_error_per_layer", []), 1):
            numbers[f"layer {i}: mean |t_DSTD − t_exact|"] = err
        if "prediction_agreement" in m:
            numbers["predicted class agrees (DSTD vs exact)"] = f"{100 * m['prediction_agreement']:.1f} %"
        secs = m.get("forward_seconds") or {}
        if "dstd" in secs and "exact" in secs:
            numbers["forward time DSTD / exact (s)"] = f"{secs['dstd']:.3g} / {secs['exact']:.3g}"
            if secs["dstd"] > 0:
                numbers["speed-up of DSTD over exact"] = f"{secs['exact'] / secs['dstd']:.1f}×"
    return {}, numbers


def _devices(files: list[Path]) -> tuple[dict[str, Reproduced], dict[str, Any]]:
    """notebooks/fig_devices.ipynb writes characterisation.json (pnnlib.circuit.Characterisation).

    The paper's λ_N, λ_P, λ_dis match lone transistors; the values of the synapse *as wired*
    (what the bottom-up model uses) are given in the note.
    """
    values: dict[str, Reproduced] = {}
    numbers: dict[str, Any] = {}
    path = next((f for f in files if f.name == "characterisation.json"), None)
    if path is None:
        return values, numbers
    c = _load(path)
    lam, rev, params = c.get("lambdas", {}), c.get("reversal", {}), c.get("params", {})
    wired = rev.get("wired", {})
    lone = rev.get("lone", {})

    def put(keys: list[str], value: Any, note: str | None = None) -> None:
        if value is not None:
            for key in keys:
                values[key] = Reproduced(value=value, note=note)

    put(["fig17.lambda_n", "table2.lambda_n"], lam.get("nmos_lone"),
        f"lone transistor; synapse as wired {_fmt(lam.get('nmos_synapse'), 3)}")
    put(["fig17.lambda_p", "table2.lambda_p"], lam.get("pmos_lone"),
        f"lone transistor; synapse as wired {_fmt(lam.get('pmos_synapse'), 3)}")
    put(["fig20.lambda_dis", "table2.lambda_dis"], lam.get("discharger_lone"),
        f"lone; as wired {_fmt(lam.get('discharger_wired'), 3)}")
    put(["table2.e_pos"], lone.get("e_plus"), f"lone; as wired {_fmt(wired.get('e_plus'), 3)}")
    put(["table2.e_neg"], lone.get("e_minus"), f"lone; as wired {_fmt(wired.get('e_minus'), 3)}")
    put(["table2.e_dis"], lone.get("e_dis"), f"lone; as wired {_fmt(wired.get('e_dis'), 3)}")
    fams = c.get("families", {})
    lam_n = [x for x in (fams.get("nmos_lone", {}).get("lambda") or []) if _is_num(x)]
    if lam_n:
        med = sorted(lam_n)[len(lam_n) // 2]
        put(["fig17.lambda_variation"], 100 * (max(lam_n) - min(lam_n)) / med,
            "NMOS, (max − min)/median over the whole V_G family, not only the trained network's currents")
    fit = c.get("fit_range")
    if fit:
        put(["fig17.fit_v_low"], fit[0], "chosen (paper's text)")
        put(["fig17.fit_v_high"], fit[1], "chosen")
    sense = c.get("sense", {})
    firing = c.get("firing", {})
    put(["fig19.v_switch", "table2.v_switch"], sense.get("v_switch_dc"),
        f"DC transfer curve; during the firing ramp {_fmt(firing.get('v_switch_dynamic'), 3)} V")
    put(["fig19.v_b_sense", "table2.v_b_sense"], params.get("vb_sense"), "set (Table 2)")
    put(["fig20.v_b_dis", "table2.v_b_dis"], params.get("vb_dis"), "set (Table 2)")
    membrane = c.get("membrane", {})
    if _is_num(membrane.get("c_at_v0")):
        put(["table2.c_m"], 1e15 * membrane["c_at_v0"], "membrane node capacitance at V0 in the simulated neuron")
    for key, pkey, scale, note in (("v_dd", "vdd", 1, "set"), ("v0", "v0", 1, "set"),
                                   ("t_circ", "t_circ", 1e6, "set"), ("v_th_circ", "vth_circ", 1, "set")):
        if _is_num(params.get(pkey)):
            put([f"table2.{key}"], params[pkey] * scale, note)
    numbers["model corner, temperature"] = f"{c.get('corner')}, {c.get('temp_c')} °C"
    if _is_num(firing.get("t_fire_no_input")):
        numbers["no-input firing time (T_circ; > 1 = no spike)"] = firing["t_fire_no_input"]
    return values, numbers


def _dstd(files: list[Path]) -> tuple[dict[str, Reproduced], dict[str, Any]]:
    """notebooks/fig2_dstd_traces.ipynb writes fig2.json, fig3_dstd_properties.ipynb fig3.json
    (pnnlib.bench: error slopes, exact/DSTD ratios per model, Table 1 exponents)."""
    values: dict[str, Reproduced] = {}
    numbers: dict[str, Any] = {}
    for path in files:
        data = _load(path)
        if path.name == "fig2.json":
            for p in data.get("panels", []):
                numbers[f"Fig. 2: |E| = {_fmt(p.get('e'))}, M = {p.get('steps')}: exact v(1) range, "
                        "mean |v(1) − v̂(1)|"] = (f"[{_fmt(p.get('v1_min'), 3)}, {_fmt(p.get('v1_max'), 3)}], "
                                                 f"{_fmt(p.get('abs_err_v1'), 3)}")
        if path.name != "fig3.json":
            continue
        summary = data.get("summary", {})
        slopes = summary.get("error_slopes", {})
        if _is_num(slopes.get("mean_slope_vs_m")):
            values["fig3.slope_vs_m"] = Reproduced(
                slopes["mean_slope_vs_m"], note=f"mean least-squares slope over M ≥ {slopes.get('m_min')}")
        if _is_num(slopes.get("mean_slope_vs_e")):
            values["fig3.slope_vs_e"] = Reproduced(
                slopes["mean_slope_vs_e"], note=f"mean least-squares slope over |E| ≥ {slopes.get('e_min')}")
        for model in ("rcspike", "ttfs"):
            s = summary.get(model)
            if not s:
                continue
            where = f"N_in = {s.get('n_in')} input spikes"
            if _is_num(s.get("time_ratio")):
                values[f"fig3.{model}_time_ratio"] = Reproduced(s["time_ratio"], note=where)
            for key, label in (("cuda_peak_ratio", "CUDA peak memory"), ("peak_rss_ratio", "peak RSS"),
                               ("saved_ratio", "bytes saved for backward")):
                if _is_num(s.get(key)):
                    others = ", ".join(f"{lab} {_fmt(s[k], 3)}×" for k, lab in
                                       (("saved_ratio", "saved-for-backward"), ("peak_rss_ratio", "peak RSS"))
                                       if k != key and _is_num(s.get(k)))
                    values[f"fig3.{model}_memory_ratio"] = Reproduced(
                        s[key], note=f"{label}; {where}" + (f"; {others}" if others else ""))
                    break
        for method in ("ode", "ode-adjoint"):
            s = summary.get(method)
            if s and _is_num(s.get("time_ratio_vs_dstd")):
                numbers[f"torchdiffeq {method} vs DSTD at N_in = {s.get('n_in')}: time, saved bytes"] = (
                    f"{_fmt(s['time_ratio_vs_dstd'], 3)}×, {_fmt(s.get('saved_ratio_vs_dstd'), 3)}×")
        for row in data.get("table1", []):
            key = f"table1.{row.get('model')}_{row.get('method')}"
            t_exp, m_exp = row.get("measured_time_exponent"), row.get("measured_saved_bytes_exponent")
            if _is_num(t_exp):
                values[key] = Reproduced(
                    f"time ∝ N_in^{t_exp:.2f}" + (f", memory ∝ N_in^{m_exp:.2f}" if _is_num(m_exp) else ""),
                    note=f"measured over N_in {row.get('fit_range_N_in')}; ours: {row.get('implementation')}")
    return values, numbers


#: stage name -> adapter(files) -> (reproduced values keyed "<item>.<key>", stage numbers).
ADAPTERS: dict[str, Callable[[list[Path]], tuple[dict[str, Reproduced], dict[str, Any]]]] = {
    "demo": _demo,
    "devices": _devices,
    "dstd": _dstd,
}


def collect_reproduced(manifest: Mapping[str, Any], root: Path) -> tuple[dict[str, Reproduced], dict[str, dict]]:
    """All reproduced values (keyed ``<item>.<key>``) and per-stage numbers from the manifest.

    Values a stage states explicitly (its JSON's ``"reproduced"``) win over values an adapter
    derives from a stage's own format (e.g. the λ spread over the trained network's currents,
    from the circuit stage, over the spread over the whole device sweep).
    """
    explicit: dict[str, Reproduced] = {}
    derived: dict[str, Reproduced] = {}
    stage_numbers: dict[str, dict] = {}
    for stage, info in manifest.get("stages", {}).items():
        files = [root / f for f in info.get("values", [])]
        present = [f for f in files if f.exists()]
        numbers: dict[str, Any] = {}
        for path in present:
            if path.suffix == ".json":
                v, n = _generic(_load(path))
                explicit.update(v)
                numbers.update(n)
        if stage in ADAPTERS and present:
            v, n = ADAPTERS[stage](present)
            derived.update(v)
            numbers.update(n)
        stage_numbers[stage] = numbers
    return {**derived, **explicit}, stage_numbers


# ---------------------------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------------------------


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
        if not math.isfinite(x):
            return str(x)
        return f"{x:.{digits}g}"
    return str(x)


def _with_unit(text: str, unit: str) -> str:
    if not unit:
        return text
    return f"{text}{unit}" if unit == "×" else f"{text} {unit}"


def _fmt_repro(r: Reproduced, unit: str = "") -> str:
    text = _fmt(r.value)
    if r.std is not None and _is_num(r.std):
        text += f" ± {_fmt(r.std, 2)}"
    text = _with_unit(text, unit) if _is_num(r.value) else text
    if r.n is not None:
        text += f" (n = {r.n})"
    return text


def _difference(paper: Any, relation: str, r: Reproduced | None) -> str:
    if r is None or not (_is_num(paper) and _is_num(r.value)):
        return "—"
    diff = r.value - paper
    if relation == "≤":
        return f"{'✓' if r.value <= paper else '✗'} ({diff:+.3g})"
    if relation == "≥":
        return f"{'✓' if r.value >= paper else '✗'} ({diff:+.3g})"
    text = f"{diff:+.3g}"
    if paper != 0:
        text += f" ({100 * diff / abs(paper):+.0f} %)"
    return text


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _rel(path: str, out_dir: Path, root: Path) -> str:
    """A link target for ``path`` (repo-relative) as seen from the report's folder."""
    try:
        return os.path.relpath(root / path, out_dir)
    except ValueError:
        return path


def build_report(paper_values: Mapping[str, Any], manifest: Mapping[str, Any], root: Path,
                 out_path: Path) -> str:
    """The Markdown text of the report."""
    values, stage_numbers = collect_reproduced(manifest, root)
    out_dir = (root / out_path).parent if not out_path.is_absolute() else out_path.parent
    profile = manifest.get("profile", "?")
    stages = manifest.get("stages", {})
    made_by: dict[str, tuple[list[str], list[str]]] = {}  # paper item -> (stages making it, files)
    for stage, info in stages.items():
        for item, files in info.get("items", {}).items():
            stages_of, files_of = made_by.setdefault(item, ([], []))
            stages_of.append(stage)
            files_of.extend(files)

    items = paper_values["items"]
    lines = [
        "# Paper versus reproduction",
        "",
        "Generated by the pipeline (`snakemake`, rule `report`; `pnnlib/report.py`). Do not edit by hand.",
        "",
        f"* **Profile:** `{profile}` (`{manifest.get('profile_file', '')}`) — "
        f"{manifest.get('profile_note', '')}".rstrip(" —"),
        f"* **Results:** `{manifest.get('results_dir', '')}/`; **figures:** `{manifest.get('figures_dir', '')}/`",
        f"* **Paper values:** `config/paper_values.yaml` ({paper_values.get('source', '')}). "
        "They are references only; nothing is fitted to them.",
        "* **Difference** = reproduced − paper (relative in brackets); ✓/✗ for the paper's bounds (≤, ≥). "
        "Means ± std are over seeds where a stage ran several.",
        "* Regenerate: `snakemake --cores N --config profile=smoke|quick|paper`.",
        "",
        "## Overview",
        "",
        "| paper | what | status | made by stage |",
        "|---|---|---|---|",
    ]
    for item_id, item in items.items():
        title = _md_escape(item.get("title", ""))
        if item_id in made_by:
            stage = ", ".join(made_by[item_id][0])
            files = made_by[item_id][1]
            status = f"reproduced ({len(files)} file{'s' if len(files) != 1 else ''})"
        elif item.get("kind") == "schematic":
            stage, status = "—", "schematic (not a computed result)"
        else:
            stage, status = "—", "**not yet reproduced**"
        lines.append(f"| {_label(item_id)} | {title} | {status} | {stage} |")
    lines.append("")

    for item_id, item in items.items():
        if item.get("kind") == "schematic" and not item.get("values") and item_id not in made_by:
            continue
        lines += [f"## {_label(item_id)} — {item.get('title', '')}", ""]
        if item_id in made_by:
            names, files = made_by[item_id]
            links = ", ".join(f"[`{Path(f).name}`]({_rel(f, out_dir, root)})" for f in files)
            by = ", ".join(f"`{n}`" for n in names)
            lines += [f"Made by stage{'s' if len(names) > 1 else ''} {by} with profile `{profile}`: {links}", ""]
        elif item.get("kind") == "schematic":
            lines += ["A schematic/layout in the paper, not a computed result; the numbers it states are "
                      "compared where another stage reproduces them.", ""]
        else:
            lines += ["**Not yet reproduced**: no stage of the pipeline makes it yet.", ""]
        if item.get("note"):
            lines += [f"_{item['note']}_", ""]
        vals = item.get("values") or []
        if item.get("layout") == "best_e_accuracy":
            lines += _best_e_table(item_id, vals, values, item_id in made_by)
        elif vals:
            lines += ["| quantity | paper | reproduced | difference | notes | source |", "|---|---|---|---|---|---|"]
            for v in vals:
                r = values.get(f"{item_id}.{v['key']}")
                unit, relation = v.get("unit", ""), v.get("relation", "=")
                paper_txt = _with_unit(f"{'' if relation == '=' else relation}{_fmt(v['paper'])}", unit)
                if r is not None:
                    repro = _fmt_repro(r, unit)
                else:
                    repro = "—" if item_id in made_by else "not yet reproduced"
                notes = "; ".join(n for n in (r.note if r else None, v.get("note")) if n)
                cells = [v["quantity"], paper_txt, repro, _difference(v["paper"], relation, r), notes,
                         v.get("spec", "")]
                lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
            lines.append("")
        if item.get("claims"):
            lines += ["Paper's qualitative claims (compare with the figure):", ""]
            lines += [f"* {c}" for c in item["claims"]]
            lines.append("")

    extensions = [(stage, ext, files) for stage, info in stages.items()
                  for ext, files in (info.get("extensions") or {}).items()]
    if extensions:
        lines += ["## Beyond the paper", "",
                  "Figures and tables of studies the paper does not make (their numbers are listed under "
                  "the stage below):", "", "| extension | made by stage | files |", "|---|---|---|"]
        for stage, ext, files in extensions:
            links = ", ".join(f"[`{Path(f).name}`]({_rel(f, out_dir, root)})" for f in files)
            lines.append(f"| {_md_escape(ext)} | `{stage}` | {links} |")
        lines.append("")
    extra = {s: n for s, n in stage_numbers.items() if n}
    if extra:
        lines += ["## Stage numbers without a paper counterpart", ""]
        for stage, numbers in extra.items():
            lines += [f"### {stages[stage].get('title', stage)} (stage `{stage}`)", "",
                      "| quantity | value |", "|---|---|"]
            lines += [f"| {_md_escape(k)} | {_md_escape(_fmt(v))} |" for k, v in numbers.items()]
            lines.append("")
    not_done = [i for i, it in items.items() if i not in made_by and it.get("kind") != "schematic"]
    lines += ["## Not yet reproduced", ""]
    lines += [", ".join(_label(i) for i in not_done) if not_done else "Everything the paper computes is reproduced.",
              ""]
    return "\n".join(lines)


def _best_e_table(item_id: str, vals: list[Mapping[str, Any]], values: Mapping[str, Reproduced],
                  made: bool) -> list[str]:
    """Table 3's layout: one row per (network, σ) with the best |E| and its accuracy side by side.

    Value keys are ``<network>.sigma<σ>.best_e`` / ``.accuracy``; the quantity text before
    ``": "`` names the row.
    """
    rows: dict[str, dict[str, Any]] = {}
    for v in vals:
        prefix, _, what = v["key"].rpartition(".")
        row = rows.setdefault(prefix, {"label": v["quantity"].split(":")[0], "spec": v.get("spec", "")})
        row[what] = v
    missing = "—" if made else "not yet reproduced"
    out = ["| network, σ_spike | best \\|E\\| paper | best \\|E\\| reproduced | accuracy paper | "
           "accuracy reproduced | Δ accuracy | notes |", "|---|---|---|---|---|---|---|"]
    for prefix, row in rows.items():
        e, acc = row.get("best_e"), row.get("accuracy")
        r_e = values.get(f"{item_id}.{prefix}.best_e")
        r_acc = values.get(f"{item_id}.{prefix}.accuracy")
        notes = "; ".join(n for n in (r_acc.note if r_acc else None, r_e.note if r_e else None) if n)
        cells = [
            row["label"],
            _fmt(e["paper"]) if e else "—",
            _fmt_repro(r_e) if r_e else missing,
            _with_unit(f"{acc['paper']:.2f}", "%") if acc else "—",
            _fmt_repro(r_acc, "%") if r_acc else missing,
            _difference(acc["paper"], "=", r_acc).split(" (")[0] + " points" if (acc and r_acc) else "—",
            notes,
        ]
        out.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    out.append("")
    return out


def _label(item_id: str) -> str:
    if item_id.startswith("fig"):
        return f"Fig. {item_id[3:]}"
    if item_id.startswith("table"):
        return f"Table {item_id[5:]}"
    return item_id


def main(argv: list[str] | None = None) -> int:
    """Command line: write the report."""
    import yaml

    parser = argparse.ArgumentParser(prog="python -m pnnlib.pipeline.report", description=__doc__.splitlines()[0])
    parser.add_argument("--paper-values", default="config/paper_values.yaml")
    parser.add_argument("--manifest", required=True, help="JSON (or @file) from the Snakefile")
    parser.add_argument("--out", required=True)
    parser.add_argument("--root", default=".", help="repository root the manifest's paths are relative to")
    args = parser.parse_args(argv)
    manifest_text = Path(args.manifest[1:]).read_text() if args.manifest.startswith("@") else args.manifest
    manifest = json.loads(manifest_text)
    paper_values = yaml.safe_load(Path(args.paper_values).read_text())
    out = Path(args.out)
    text = build_report(paper_values, manifest, Path(args.root).resolve(), out)
    from pnnlib.io import write_text_atomic

    write_text_atomic(out, text + "\n")
    print(f"[report] wrote {out} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
