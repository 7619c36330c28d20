"""Shared plumbing for the ``python -m pnnlib.bench`` subcommands.

Device selection, synchronised timing, child processes (one fresh process per measured
configuration), atomic JSON output and plain-text tables. Subcommand modules
(:mod:`pnnlib.bench.dstd_efficiency`, and later ``train_step`` / ``conv_step``) build on these so that all
benchmarks report comparable numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from pnnlib.train import resolve_device

__all__ = [
    "add_common_arguments",
    "format_table",
    "resolve_device",
    "run_child",
    "source_state",
    "synchronize",
    "time_call",
]


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels on ``device`` (no-op on CPU), so wall-clock times are real."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], Any], device: torch.device, repeats: int) -> tuple[list[float], list[float]]:
    """Wall-clock and process-CPU seconds of ``repeats`` synchronised calls of ``fn`` (no warm-up).

    On a shared CPU the wall-clock time includes the time other processes take from us; the
    CPU time (summed over this process's threads) does not, so it is the steadier of the two
    for comparing methods there. On CUDA the wall-clock time is the relevant one.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        synchronize(device)
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        synchronize(device)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def run_child(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float | None = None
) -> dict[str, Any]:
    """Run ``python -m pnnlib.bench *argv`` in a fresh process and return its JSON result.

    The child prints its result as one JSON object on the last line of stdout. ``env`` entries
    are added to this process's environment.

    Raises:
        RuntimeError: the child failed or printed no JSON (the message holds its stderr tail).
    """
    cmd = [sys.executable, "-m", "pnnlib.bench", *argv]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark child failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def source_state() -> dict[str, Any]:
    """Git commit of the source tree and the files under ``pnnlib/`` that differ from it.

    Benchmarks record this because the measured code may be uncommitted work in progress.
    Empty values when git is unavailable.
    """
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.rstrip() if out.returncode == 0 else ""

    dirty = git("status", "--porcelain", "--", "pnnlib")
    return {"git_head": git("rev-parse", "HEAD"), "dirty": [ln[3:] for ln in dirty.splitlines()]}


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """Plain-text table of ``rows``; ``columns`` are ``(key, header)`` pairs.

    Floats are shown with 3 significant digits, ``None`` as ``-``.
    """

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v)

    body = [[cell(r.get(k)) for k, _ in columns] for r in rows]
    heads = [h for _, h in columns]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(heads)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([fmt.format(*heads), sep, *(fmt.format(*b) for b in body)])


def standalone_main(
    prog: str,
    description: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None = None,
) -> int:
    """``main`` of a benchmark module run on its own (``python -m pnnlib.bench.<module>``): the same
    options and behaviour as its ``python -m pnnlib.bench`` subcommand."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every benchmark subcommand shares: device, repeats, seed, JSON output, quick."""
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:k] (default auto)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--json", type=Path, default=None, help="write results to this JSON file")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
