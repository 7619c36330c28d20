"""Helpers shared by the Snakefile, its rules and the notebooks (the reproduction pipeline).

The pipeline (``Snakefile``, ``rules/<stage>.smk``) executes the parameterised notebooks in
``notebooks/`` with papermill; every setting comes from the active *profile*
(``config/profiles/{smoke,quick,paper}.yaml``, selected by ``config/config.yaml`` or
``--config profile=...``) and is validated against ``config/schema.yaml`` before any job runs.

What lives here:

* :func:`load_profile` — read ``config/config.yaml`` + the profile file, apply ``--config``
  overrides, validate with :func:`snakemake.utils.validate`, and raise :class:`ProfileError`
  naming the offending key (``mlp.train.epochs: 0 is less than the minimum of 1``);
* :func:`run_id` / :func:`expand_grid` — deterministic, readable run ids for grids of runs
  (``e4-m3-off_random-sig0.01-seed0``);
* :func:`write_json_atomic` / :func:`read_json` — results files that are either complete or
  absent (a crashed job never leaves half a JSON behind);
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
import glob
import itertools
import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "ProfileError",
    "REPO_ROOT",
    "PROFILE_KEYS_FROM_CONFIG",
    "load_profile",
    "profile_banner",
    "run_id",
    "expand_grid",
    "write_text_atomic",
    "write_json_atomic",
    "read_json",
    "PIPELINE_KEYS",
    "nb_params_json",
    "grid_params",
    "notebook_shell",
    "notebook_parameters",
    "reset_stale_run",
    "run_notebook",
]

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Top-level keys of ``config/config.yaml`` (run settings, not experiment settings).
PROFILE_KEYS_FROM_CONFIG = ("profile", "results_dir", "figures_dir", "kernel", "start_timeout")


class ProfileError(ValueError):
    """A profile or config value is missing, unknown or out of range (message names the key)."""


# ---------------------------------------------------------------------------------------------
# profiles
# ---------------------------------------------------------------------------------------------


def _deep_merge(base: dict, override: Mapping) -> dict:
    """Return ``base`` updated recursively by ``override`` (mappings merge, other values replace)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(dict(out[key]), value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _key_path(path: Iterable[Any]) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else str(p) for p in path]
    return ".".join(parts).replace(".[", "[") or "<top level>"


def _format_validation_error(err: Exception) -> str:
    """One line naming the offending key, from a jsonschema error (possibly wrapped by Snakemake)."""
    import jsonschema

    inner: BaseException | None = err
    while inner is not None and not isinstance(inner, jsonschema.ValidationError):
        inner = inner.__cause__ or inner.__context__  # snakemake raises WorkflowError from it
    if not isinstance(inner, jsonschema.ValidationError):
        return str(err)
    # descend to the most specific error (anyOf/oneOf wrap the useful one)
    best = jsonschema.exceptions.best_match([inner]) or inner
    where = _key_path(best.absolute_path)
    if best.validator == "additionalProperties":
        allowed = sorted(best.schema.get("properties", {}))
        unknown = sorted(set(best.instance) - set(allowed)) if isinstance(best.instance, Mapping) else []
        names = ", ".join(f"{where}.{k}" if where != "<top level>" else k for k in unknown)
        return f"unknown key {names} (allowed here: {', '.join(allowed)})"
    return f"{where}: {best.message}"


def _parse_cli_leaves(config: Mapping[str, Any]) -> dict[str, Any]:
    """Stage sections given with ``--config 'demo={steps: 5}'`` arrive with string leaves; parse them as YAML."""
    import yaml

    def parse(value: Any, nested: bool) -> Any:
        if isinstance(value, Mapping):
            return {k: parse(v, True) for k, v in value.items()}
        if nested and isinstance(value, str):
            try:
                return yaml.safe_load(value)
            except yaml.YAMLError:
                return value
        return value

    return {k: parse(v, False) for k, v in config.items()}


def load_profile(config: Mapping[str, Any], root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Resolve, merge and validate the active profile; return the full settings dict.

    ``config`` is Snakemake's ``config`` (``config/config.yaml`` plus ``--config`` overrides).
    The profile file ``config/profiles/<profile>.yaml`` (or ``profile`` given as a path to a
    ``.yaml`` file, whose stem then names the profile) holds per-stage sections; a stage
    section given with ``--config`` (e.g. ``--config 'demo={steps: 5}'``) is merged over it.
    ``results_dir`` may contain ``{profile}``. The merged dict is validated against
    ``config/schema.yaml`` with :func:`snakemake.utils.validate` (which also fills defaults).

    Raises :class:`ProfileError` whose message names the offending key.
    """
    import yaml

    root = Path(root) if root is not None else REPO_ROOT
    profile = config.get("profile")
    if isinstance(profile, str) and profile.endswith((".yaml", ".yml")):
        path = Path(profile) if Path(profile).is_absolute() else root / profile  # a profile file of one's own
        if not path.is_file():
            raise ProfileError(f"profile: no such profile file {path}")
        profile = path.stem
    elif isinstance(profile, str) and re.fullmatch(r"[A-Za-z0-9_-]+", profile):
        path = root / "config" / "profiles" / f"{profile}.yaml"
        if not path.is_file():
            available = sorted(p.stem for p in (root / "config" / "profiles").glob("*.yaml"))
            raise ProfileError(f"profile: no profile file {path} (available: {', '.join(available)})")
    else:
        raise ProfileError(f"profile: expected smoke|quick|paper (a file in config/profiles/) or a path "
                           f"to a .yaml profile, got {profile!r}")
    sections = yaml.safe_load(path.read_text()) or {}
    if not isinstance(sections, Mapping):
        raise ProfileError(f"{path}: a profile must be a mapping of stage sections")
    clash = sorted(set(sections) & set(PROFILE_KEYS_FROM_CONFIG))
    if clash:
        raise ProfileError(f"{path}: run settings {clash} belong in config/config.yaml, not in a profile")
    merged = _deep_merge(dict(sections), _parse_cli_leaves(config))
    merged["profile"] = profile
    merged["profile_file"] = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    from snakemake.utils import validate

    try:
        validate(merged, str(root / "config" / "schema.yaml"))
    except Exception as err:  # WorkflowError wrapping a jsonschema.ValidationError
        raise ProfileError(f"invalid settings for profile '{profile}' ({path.name}): "
                           f"{_format_validation_error(err)}") from None
    merged["results_dir"] = merged["results_dir"].format(profile=profile)
    merged["figures_dir"] = merged["figures_dir"].format(profile=profile)
    return merged


def profile_banner(settings: Mapping[str, Any], stages: Iterable[str],
                   missing: Mapping[str, list[str]] | None = None) -> str:
    """The lines the pipeline logs at start: which profile, where outputs go, how to switch.

    ``missing`` maps stages that are not wired to the notebooks they still lack.
    """
    waiting = {s: nbs for s, nbs in (missing or {}).items() if nbs}
    not_wired = "".join(f"\n  stage '{s}' not wired yet (missing {', '.join(nbs)})" for s, nbs in waiting.items())
    return (
        f"pnn-imc pipeline: profile '{settings['profile']}' ({settings['profile_file']}); "
        f"results -> {settings['results_dir']}/, figures -> {settings['figures_dir']}/; "
        f"stages wired: {', '.join(stages) or 'none'}.{not_wired}\n"
        "  switch with --config profile=smoke|quick|paper (smoke: minutes, quick: ~1 h on 2 CPU "
        "cores, paper: the paper's settings); outputs elsewhere with --config results_dir=... figures_dir=..."
    )


# ---------------------------------------------------------------------------------------------
# run ids and grids
# ---------------------------------------------------------------------------------------------

#: Short names used in run ids for the common grid parameters (others keep their own name).
_ID_ABBREV = {"e_pos": "e", "steps": "m", "offset": "off", "sigma": "sig", "seed": "seed", "width": "w"}


def _fmt_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value.is_integer() and abs(value) < 1e6:
            return str(int(value))
        return f"{value:g}"
    if value is None:
        return "none"
    return str(value)


def run_id(params: Mapping[str, Any], keys: Iterable[str] | None = None) -> str:
    """A deterministic, readable, filesystem-safe id for one run, e.g. ``e4-m3-off_random-seed0``.

    ``keys`` selects and orders the parameters that vary between runs (default: all, sorted).
    Numbers print compactly (``4.0`` → ``4``, ``0.005`` → ``0.005``); strings get a ``_`` after
    their short name so ``off_random`` stays readable.
    """
    keys = list(keys) if keys is not None else sorted(params)
    parts = []
    for key in keys:
        value = params[key]
        short = _ID_ABBREV.get(key, key)
        sep = "_" if isinstance(value, str) or value is None else ""
        parts.append(f"{short}{sep}{_fmt_value(value)}")
    rid = "-".join(parts) or "default"
    return re.sub(r"[^A-Za-z0-9._-]", "_", rid)


def expand_grid(grids: Mapping[str, Mapping[str, Any]], fixed: Mapping[str, Any] | None = None,
                id_keys: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """Union of Cartesian products: ``{run_id: params}`` for every named grid.

    Each grid maps parameter names to a list of values (a scalar counts as a one-element list).
    ``fixed`` parameters are added to every run and do not enter the id. Runs that two grids
    share (same id) appear once, so Table 3's σ sweep and Fig. 4's |E| sweep can overlap freely.
    ``id_keys`` orders the id (default: the union of the grids' keys, in first-seen order).
    """
    fixed = dict(fixed or {})
    if id_keys is None:
        seen: dict[str, None] = {}
        for grid in grids.values():
            for key in grid:
                seen.setdefault(key, None)
        id_keys = list(seen)
    id_keys = list(id_keys)
    runs: dict[str, dict[str, Any]] = {}
    for name, grid in grids.items():
        missing = [k for k in id_keys if k not in grid]
        if missing:
            raise ProfileError(f"grid '{name}' does not set {missing} (every grid must set {id_keys})")
        axes = [(k, v if isinstance(v, list | tuple) else [v]) for k, v in grid.items()]
        for combo in itertools.product(*(values for _, values in axes)):
            params = {**fixed, **dict(zip((k for k, _ in axes), combo))}
            rid = run_id(params, id_keys)
            if rid in runs and runs[rid] != params:
                raise ProfileError(f"run id {rid} names two different runs: {runs[rid]} and {params}")
            runs[rid] = params
    return runs


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
        raise ProfileError(f"{notebook}: the profile sets {unknown}, which its 'parameters' cell does not "
                           f"declare (it declares: {', '.join(declared)})")
    return json.dumps(out, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# results files
# ---------------------------------------------------------------------------------------------


def _json_default(obj: Any) -> Any:
    """Serialise numpy/torch scalars and arrays, and paths."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def json_ready(x: Any) -> Any:
    """Nested structure made strict-JSON-ready: mappings (keys as strings) and sequences recursed,
    numpy/torch scalars and arrays converted with ``tolist()``, non-finite floats as ``None``."""
    if isinstance(x, Mapping):
        return {str(k): json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_ready(v) for v in x]
    if hasattr(x, "tolist"):
        return json_ready(x.tolist())
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    return x


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder + rename).

    Readers (and Snakemake) see either the old file, no file, or the complete new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are ordinary readable files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int = 2) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically; create parent folders.

    numpy/torch scalars and arrays become numbers and lists; NaN/inf are written as JSON
    ``NaN``/``Infinity`` (Python's ``json`` reads them back).
    """
    return write_text_atomic(path, json.dumps(obj, indent=indent, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file written by :func:`write_json_atomic`."""
    with open(path) as fh:
        return json.load(fh)


# ---------------------------------------------------------------------------------------------
# notebooks
# ---------------------------------------------------------------------------------------------


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


def reset_stale_run(run_dir: str | os.PathLike, parameters: Mapping[str, Any], *, config_file: str = "config.yaml",
                    state_files: Iterable[str] = ("config.yaml", "checkpoint.pt"),
                    resumable: Iterable[str] = ()) -> list[str]:
    """Delete a run directory's saved state if it was made with different parameters.

    A training run keeps ``config.yaml`` and a ``checkpoint.pt`` so that an interrupted job
    resumes (Snakemake deletes a failed job's declared outputs, not these). When a profile edit
    changes a run's parameters, Snakemake reruns the job, and the old state must not be resumed:
    if any parameter that ``config_file`` also records differs (keys in ``resumable``, e.g.
    ``epochs``, may differ), the ``state_files`` are deleted. Returns the keys that differed.
    """
    import yaml

    run_dir = Path(run_dir)
    path = run_dir / config_file
    if not path.is_file():
        return []
    old = yaml.safe_load(path.read_text()) or {}
    skip = set(resumable)
    changed = sorted(k for k, v in parameters.items() if k in old and k not in skip and old[k] != v)
    if changed:
        for name in state_files:
            (run_dir / name).unlink(missing_ok=True)
        print(f"[pipeline] {run_dir}: parameters {changed} changed since the saved state; "
              f"removed {', '.join(state_files)} (training starts afresh)", flush=True)
    return changed


def run_notebook(notebook: str | os.PathLike, output: str | os.PathLike, parameters: Mapping[str, Any],
                 *, kernel: str = "pnn-imc", start_timeout: int = 300, threads: int | None = None,
                 cwd: str | os.PathLike | None = None, log_output: bool = True) -> Path:
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
        raise ValueError(f"{notebook}: parameters {unknown} are not in its 'parameters' cell "
                         f"(it declares: {', '.join(declared)})")
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
    print(f"[pipeline] papermill {notebook} -> {output} (kernel {kernel}, threads {threads}) "
          f"parameters: {json.dumps(params, sort_keys=True)}", flush=True)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook), str(tmp), parameters=params, kernel_name=kernel,
            start_timeout=start_timeout, log_output=log_output, progress_bar=False,
            cwd=str(cwd) if cwd is not None else None,
        )
    except BaseException:
        if tmp.exists():
            os.replace(tmp, failed)
            print(f"[pipeline] FAILED after {time.perf_counter() - start:.1f} s; executed notebook kept "
                  f"at {failed}", file=sys.stderr, flush=True)
        raise
    os.replace(tmp, output)
    failed.unlink(missing_ok=True)
    print(f"[pipeline] done in {time.perf_counter() - start:.1f} s: {output}", flush=True)
    return output


def grid_params(notebook: str | os.PathLike, grid: Mapping[str, Any],
                rename: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The entries of a run grid that an aggregation notebook also declares as parameters.

    Passing them keeps a figure's panels in step with the runs the profile trains (the
    notebook's defaults are the paper's grids). ``rename`` maps grid keys to notebook names
    (e.g. ``{"sigma": "sigma_main"}``).
    """
    rename = dict(rename or {})
    declared = notebook_parameters(notebook)
    out = {rename.get(k, k): v for k, v in grid.items()}
    return {k: v for k, v in out.items() if k in declared}


def notebook_shell(kernel: str = "pnn-imc", start_timeout: int = 300, *, reset_stale: bool = False,
                   clean: bool = False) -> str:
    """The shell command of a pipeline rule that executes one notebook (a Snakemake template).

    The rule provides ``input.notebook``, ``output.notebook``, ``params.nb`` (JSON from
    :func:`nb_params_json`), ``threads`` and ``log``; with ``reset_stale`` also
    ``params.run_dir`` and ``params.resumable`` (see :func:`reset_stale_run`); with ``clean``
    also ``params.clean``, a glob of cache files the notebook keeps between executions, which
    are deleted first (the job only reruns when something it depends on changed).
    """
    cmd = (f"{sys.executable} -m pnnlib.pipeline notebook --kernel {kernel} --start-timeout {int(start_timeout)} "
           "{input.notebook} {output.notebook} --params {params.nb:q} --threads {threads}")
    if reset_stale:
        cmd += " --reset-stale {params.run_dir:q} --resumable {params.resumable}"
    if clean:
        cmd += " --clean {params.clean:q}"
    return cmd + " > {log} 2>&1"


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pnnlib.pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    nb = sub.add_parser("notebook", help="execute one notebook with papermill (a pipeline job)")
    nb.add_argument("notebook")
    nb.add_argument("output")
    nb.add_argument("--params", default="{}", help="parameters as a JSON object")
    nb.add_argument("--kernel", default="pnn-imc")
    nb.add_argument("--start-timeout", type=int, default=300)
    nb.add_argument("--threads", type=int, default=None)
    nb.add_argument("--reset-stale", metavar="RUN_DIR", default=None,
                    help="before running, drop RUN_DIR's config.yaml/checkpoint.pt if made with other parameters")
    nb.add_argument("--resumable", default="", help="comma-separated keys that may change without a reset")
    nb.add_argument("--clean", action="append", default=[], metavar="GLOB",
                    help="delete files matching GLOB (a notebook's caches) before running")
    args = parser.parse_args(argv)
    import logging

    # papermill logs each cell's output at INFO (log_output=True): the job's log shows progress.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    if args.command == "notebook":
        params = json.loads(args.params)
        if args.reset_stale:
            reset_stale_run(args.reset_stale, params, resumable=[k for k in args.resumable.split(",") if k])
        for pattern in args.clean:
            for path in sorted(glob.glob(pattern)):
                print(f"[pipeline] removing cache {path}", flush=True)
                Path(path).unlink()
        run_notebook(args.notebook, args.output, params, kernel=args.kernel,
                     start_timeout=args.start_timeout, threads=args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
