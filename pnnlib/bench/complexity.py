r"""Table 1 regenerated: per-layer complexity, theory beside measured scaling exponents.

The paper's Table 1 (paper-spec §2.1) gives the per-layer cost per sample of the exact solution
and of DSTD. The measured exponent is the log–log slope (:func:`pnnlib.bench.fit.fit_loglog_slope`)
of the training time per epoch (wall clock and process CPU time), and of the saved-for-backward
bytes, against the number of input spikes N_in at fixed N_out, from the rows of
:func:`pnnlib.bench.dstd_efficiency.efficiency`.

Why our exact baselines scale better than the paper's counts: :func:`pnnlib.core.neuron.rcspike_exact`
evaluates the closed form (Eqs. 16/22/23) with cumulative sums in log space, so each neuron costs
O(N_in) after one O(N_in log N_in) sort per sample — O(N_in N_out) rather than O(N_in² N_out)
(the paper's count forms each of the N_in products :math:`Z_{ij}` separately).
:func:`pnnlib.core.neuron.ttfs_exact` obtains the start potentials of all N_in candidate intervals in
one pass of the recursion and tests all candidate crossings at once, again O(N_in N_out) rather
than O(N_in³ N_out). Our TTFS DSTD likewise tests all M candidate grid intervals in one pass,
O(M N_in N_out) rather than O(M² N_in N_out). So the measured advantage of DSTD here comes from
the constant factors (one dense matmul versus ~20 memory-bound passes over an
N_in × N_out tensor per sample, and M ≪ N_out tensors to keep for backward), not from a lower
exponent; both exponents should come out near 1 (below 1 where fixed overheads dominate).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pnnlib.bench.fit import fit_loglog_slope

__all__ = ["THEORY", "complexity_table", "write_table"]

#: (model, method) → (paper's per-layer cost, its exponent in N_in, our implementation's cost).
THEORY: dict[tuple[str, str], tuple[str, int | None, str]] = {
    ("rcspike", "exact"): ("O(N_in^2 N_out)", 2, "O(N_in N_out + N_in log N_in), log-space scan"),
    ("rcspike", "exact-recursion"): ("O(N_in^2 N_out)", 2, "O(N_in N_out), N_in sequential steps"),
    ("rcspike", "dstd"): ("O(M N_in N_out)", 1, "O(M N_in N_out), one matmul"),
    ("rcspike", "ode"): ("-", None, "O(NFE N_in N_out), NFE from the adaptive solver"),
    ("rcspike", "ode-adjoint"): ("-", None, "O(NFE N_in N_out), NFE from the adaptive solver"),
    ("ttfs", "exact"): ("O(N_in^3 N_out)", 3, "O(N_in N_out + N_in log N_in), all intervals at once"),
    ("ttfs", "dstd"): ("O(M^2 N_in N_out)", 1, "O(M N_in N_out), all grid intervals at once"),
    ("ann", "-"): ("O(N_in N_out)", 1, "not measured"),
}


def _slope(xs: list[float], ys: list[float], n_min: float | None) -> tuple[float | None, str]:
    lo = n_min if n_min is not None and sum(x >= n_min for x in xs) >= 2 else None
    try:
        slope, _ = fit_loglog_slope(xs, ys, x_min=lo)
    except ValueError:
        return None, "-"
    used = [x for x in xs if lo is None or x >= lo]
    return slope, f"{int(min(used))}-{int(max(used))}"


def complexity_table(rows: Sequence[dict[str, Any]], *, n_min: float | None = 300) -> list[dict[str, Any]]:
    """Table 1 with measured exponents from efficiency rows.

    For every (model, method) in :data:`THEORY`, fits log(time per epoch: wall clock and process
    CPU time) and log(saved bytes) against log N_in over the measured rows with ``N_in ≥ n_min``
    (all rows if fewer than two qualify; the range used is reported), since at small N_in fixed
    per-call overheads flatten the curves.
    """
    table = []
    for (model, method), (paper, paper_exp, ours) in THEORY.items():
        done = sorted(
            (r for r in rows if r.get("model") == model and r.get("method") == method and "skipped" not in r),
            key=lambda r: r["n_in"],
        )
        xs = [float(r["n_in"]) for r in done]
        t_exp, t_range = _slope(xs, [r["epoch_s"] for r in done], n_min)
        c_exp, _ = _slope(xs, [r.get("epoch_cpu_s") for r in done], n_min)
        m_exp, _ = _slope(xs, [r["saved_bytes"] for r in done], n_min)
        table.append(
            {
                "model": model,
                "method": method,
                "paper_complexity": paper,
                "paper_exponent_N_in": paper_exp,
                "implementation": ours,
                "measured_time_exponent": t_exp,
                "measured_cpu_time_exponent": c_exp,
                "measured_saved_bytes_exponent": m_exp,
                "fit_range_N_in": t_range,
            }
        )
    return table


def write_table(table: Sequence[dict[str, Any]], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``table1.csv`` and ``table1.md`` into ``out_dir``; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = list(table[0])
    csv_path, md_path = out_dir / "table1.csv", out_dir / "table1.md"
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(table)

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    lines = [
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
        *("| " + " | ".join(cell(r[k]) for k in keys) + " |" for r in table),
    ]
    md_path.write_text(
        "Table 1: per-layer complexity (paper) and measured scaling exponents in N_in "
        "(time per epoch, wall clock and process CPU, and saved-for-backward bytes; log-log least squares).\n\n"
        + "\n".join(lines)
        + "\n"
    )
    return csv_path, md_path
