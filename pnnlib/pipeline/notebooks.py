"""Notebooks as pipeline jobs: their parameters, one papermill execution, the rule's shell line.

* :func:`notebook_parameters` — the names and defaults of a notebook's ``parameters`` cell,
  read without starting a kernel; :func:`nb_params_json` — a rule's notebook parameters from
  a profile section, checked against that cell when the DAG is built;
* :func:`run_notebook` (also ``python -m pnnlib.pipeline notebook ...``, the command
  :func:`notebook_shell` writes for every notebook rule) — one papermill execution as a
  Snakemake job: checks every parameter exists in the notebook, pins the torch/BLAS thread
  count to the job's ``threads``, executes into a temporary file and moves it into place only
  on success (a failed run is kept as ``*.failed.ipynb`` for reading);
* :func:`reset_stale_run` — drops a training run's saved state when its parameters changed.

Nothing here keeps state between calls, so rules run the same locally and under SLURM.
"""

from __future__ import annotations

import argparse
import ast
import copy
import functools
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pnnlib.io import yaml_load_strict
from pnnlib.pipeline.profiles import ProfileError

__all__ = [
    "PIPELINE_KEYS",
    "main",
    "nb_params_json",
    "notebook_parameters",
    "notebook_problems",
    "notebook_shell",
    "reset_stale_run",
    "run_notebook",
]

#: Keys of a stage section that configure the pipeline, not the notebook.
PIPELINE_KEYS = ("threads", "gpus")


def nb_params_json(notebook: str | os.PathLike, section: Mapping[str, Any], **extra: Any) -> str:
    """The parameters of one execution of ``notebook``, as canonical JSON for Snakemake ``params``.

    ``section`` is usually a profile's stage section; its pipeline keys (``threads``, ``gpus``)
    are dropped. ``extra`` adds or overrides parameters (paths such as ``out_dir``). Every name
    must exist in the notebook's ``parameters`` cell, so a profile key that drifted from its
    notebook fails when the DAG is built (``snakemake -n``), naming both.

    Snakemake reruns a job when its params change, so a profile edit reruns exactly the jobs
    whose parameters it changes (sorted keys keep the string stable otherwise).
    """
    out = {k: v for k, v in section.items() if k not in PIPELINE_KEYS}
    out.update(extra)
    declared = notebook_parameters(notebook)
    unknown = sorted(set(out) - set(declared))
    if unknown:
        raise ProfileError(
            f"{notebook}: the profile sets {unknown}, which its 'parameters' cell does not "
            f"declare (it declares: {', '.join(declared)})"
        )
    return json.dumps(out, sort_keys=True, separators=(",", ":"))


def _parameters_cell(nb: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return cell
    return None


def notebook_parameters(path: str | os.PathLike) -> dict[str, Any]:
    """Names and default values of the assignments in a notebook's ``parameters`` cell.

    Read with :mod:`ast`, without a kernel. A default that is not a literal (e.g. ``Path(...)``)
    is returned as its source text. Raises ``ValueError`` if the notebook has no such cell.
    Cached per file version (a grid of hundreds of runs reads the notebook once).
    """
    path = Path(path).resolve()
    return copy.deepcopy(_notebook_parameters(path, path.stat().st_mtime_ns))


@functools.lru_cache(maxsize=64)
def _notebook_parameters(path: Path, _mtime_ns: int) -> dict[str, Any]:
    nb = json.loads(path.read_text())
    cell = _parameters_cell(nb)
    if cell is None:
        raise ValueError(f"{path}: no code cell tagged 'parameters'")
    source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    out: dict[str, Any] = {}
    for node in ast.parse(source).body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                try:
                    out[target.id] = ast.literal_eval(value)
                except ValueError:
                    out[target.id] = ast.get_source_segment(source, value)
    return out


def reset_stale_run(
    run_dir: str | os.PathLike,
    parameters: Mapping[str, Any],
    *,
    config_file: str = "config.yaml",
    state_files: Iterable[str] = ("config.yaml", "checkpoint.pt"),
    resumable: Iterable[str] = (),
) -> list[str]:
    """Delete a run directory's saved state if it was made with different parameters.

    A training run keeps ``config.yaml`` and a ``checkpoint.pt`` so that an interrupted job
    resumes (Snakemake deletes a failed job's declared outputs, not these). When a profile edit
    changes a run's parameters, Snakemake reruns the job, and the old state must not be resumed:
    if any parameter that ``config_file`` also records differs (keys in ``resumable``, e.g.
    ``epochs``, may differ), the ``state_files`` are deleted. Returns the keys that differed.
    """
    run_dir = Path(run_dir)
    path = run_dir / config_file
    if not path.is_file():
        return []
    old = yaml_load_strict(path.read_text(), source=str(path)) or {}
    skip = set(resumable)
    changed = sorted(k for k, v in parameters.items() if k in old and k not in skip and old[k] != v)
    if changed:
        for name in state_files:
            (run_dir / name).unlink(missing_ok=True)
        print(
            f"[pipeline] {run_dir}: parameters {changed} changed since the saved state; "
            f"removed {', '.join(state_files)} (training starts afresh)",
            flush=True,
        )
    return changed


def run_notebook(
    notebook: str | os.PathLike,
    output: str | os.PathLike,
    parameters: Mapping[str, Any],
    *,
    kernel: str = "pnn-imc",
    start_timeout: int = 300,
    threads: int | None = None,
    cwd: str | os.PathLike | None = None,
    log_output: bool = True,
) -> Path:
    """Execute ``notebook`` with papermill into ``output`` (one pipeline job).

    * every key of ``parameters`` must be a name in the notebook's ``parameters`` cell (a typo
      in a profile fails here, before any compute);
    * ``threads`` sets ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` for the kernel (torch reads it
      at start) and is passed as the parameter ``threads`` if the notebook declares one;
    * the kernel runs in ``cwd`` (default: the current directory, i.e. the repository root
      under Snakemake), with ``OMP_WAIT_POLICY=PASSIVE`` and the ``Agg`` matplotlib backend;
    * the notebook executes into a temporary file beside ``output`` and is moved into place
      only when every cell succeeded; a failed execution is kept as ``<output>.failed.ipynb``.
    """
    import papermill

    notebook, output = Path(notebook), Path(output)
    declared = notebook_parameters(notebook)
    params = dict(parameters)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ValueError(
            f"{notebook}: parameters {unknown} are not in its 'parameters' cell (it declares: {', '.join(declared)})"
        )
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(threads)
        os.environ["MKL_NUM_THREADS"] = str(threads)
        if "threads" in declared and "threads" not in params:
            params["threads"] = int(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{output.stem}.", suffix=".ipynb", dir=output.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    failed = output.with_name(output.stem + ".failed.ipynb")
    print(
        f"[pipeline] papermill {notebook} -> {output} (kernel {kernel}, threads {threads}) "
        f"parameters: {json.dumps(params, sort_keys=True)}",
        flush=True,
    )
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook),
            str(tmp),
            parameters=params,
            kernel_name=kernel,
            start_timeout=start_timeout,
            log_output=log_output,
            progress_bar=False,
            cwd=str(cwd) if cwd is not None else None,
        )
    except BaseException:
        if tmp.exists():
            os.replace(tmp, failed)
            print(
                f"[pipeline] FAILED after {time.perf_counter() - start:.1f} s; executed notebook kept at {failed}",
                file=sys.stderr,
                flush=True,
            )
        raise
    os.replace(tmp, output)
    failed.unlink(missing_ok=True)
    print(f"[pipeline] done in {time.perf_counter() - start:.1f} s: {output}", flush=True)
    return output


def notebook_shell(kernel: str = "pnn-imc", start_timeout: int = 300, *, reset_stale: bool = False) -> str:
    """The shell command of a pipeline rule that executes one notebook (a Snakemake template).

    The rule provides ``input.notebook``, ``output.notebook``, ``params.nb`` (JSON from
    :func:`nb_params_json`), ``threads`` and ``log``; with ``reset_stale`` also
    ``params.run_dir`` and ``params.resumable`` (see :func:`reset_stale_run`).

    Every value reaches the shell as one quoted word: the Python values here with
    :func:`shlex.quote` (braces doubled, so that Snakemake's formatting leaves them alone), the
    rule's placeholders with Snakemake's ``:q``. A kernel name or a path holding ``$(...)``,
    spaces or quotes is passed on as it is, never run.
    """
    cmd = (
        f"{_shell_word(sys.executable)} -m pnnlib.pipeline notebook --kernel {_shell_word(kernel)} "
        f"--start-timeout {int(start_timeout)} "
        "{input.notebook:q} {output.notebook:q} --params {params.nb:q} --threads {threads}"
    )
    if reset_stale:
        cmd += " --reset-stale {params.run_dir:q} --resumable {params.resumable:q}"
    return cmd + " > {log:q} 2>&1"


def _shell_word(value: object) -> str:
    """``value`` as one shell word inside a Snakemake shell template."""
    return shlex.quote(str(value)).replace("{", "{{").replace("}", "}}")


def notebook_problems(path: str | os.PathLike) -> list[str]:
    """Why a notebook may not be committed: outputs or execution counts stored, or no first code
    cell tagged ``parameters`` (papermill needs it). Empty when it is clean."""
    path = Path(path)
    try:
        nb = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        return [f"{path}: not a readable notebook ({err})"]
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    out = []
    dirty = [i for i, c in enumerate(code) if c.get("outputs") or c.get("execution_count") is not None]
    if dirty:
        out.append(
            f"{path}: code cells {dirty} hold outputs or execution counts; clear them "
            "(`jupyter nbconvert --clear-output --inplace`) before committing"
        )
    if not code or "parameters" not in code[0].get("metadata", {}).get("tags", []):
        out.append(f"{path}: the first code cell must be tagged 'parameters' (papermill)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pnnlib.pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    nb = sub.add_parser("notebook", help="execute one notebook with papermill (a pipeline job)")
    nb.add_argument("notebook")
    nb.add_argument("output")
    nb.add_argument("--params", default="{}", help="parameters as a JSON object")
    nb.add_argument("--kernel", default="pnn-imc")
    nb.add_argument("--start-timeout", type=int, default=300)
    nb.add_argument("--threads", type=int, default=None)
    nb.add_argument(
        "--reset-stale",
        metavar="RUN_DIR",
        default=None,
        help="before running, drop RUN_DIR's config.yaml/checkpoint.pt if made with other parameters",
    )
    nb.add_argument("--resumable", default="", help="comma-separated keys that may change without a reset")
    check = sub.add_parser(
        "notebook-check", help="fail if a notebook holds outputs or lacks a parameters cell (pre-commit)"
    )
    check.add_argument("notebooks", nargs="*")
    args = parser.parse_args(argv)
    if args.command == "notebook-check":
        problems = [p for path in args.notebooks for p in notebook_problems(path)]
        if problems:
            print("\n".join(problems), file=sys.stderr)
        return 1 if problems else 0
    import logging

    # papermill logs each cell's output at INFO (log_output=True): the job's log shows progress.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    if args.command == "notebook":
        params = json.loads(args.params)
        if args.reset_stale:
            reset_stale_run(args.reset_stale, params, resumable=[k for k in args.resumable.split(",") if k])
        run_notebook(
            args.notebook,
            args.output,
            params,
            kernel=args.kernel,
            start_timeout=args.start_timeout,
            threads=args.threads,
        )
    return 0
