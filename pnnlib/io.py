"""Files that are either complete or absent: the one place for atomic writes and JSON.

Every result, checkpoint, cache and figure table of the project is written through
:func:`atomic_path` (a temporary file in the same folder, renamed into place only when complete),
so a killed job or a full disk never leaves half a file that a later run would trust. A failed
write removes its temporary file; a full disk is reported as such, naming the file.

* :func:`atomic_path` — the context manager under everything else;
* :func:`write_text_atomic`, :func:`write_json_atomic`, :func:`torch_save_atomic` — the usual
  cases; :func:`read_json` reads what :func:`write_json_atomic` wrote;
* :func:`json_ready` — a nested structure made strict-JSON-ready (numpy/torch values, paths,
  non-finite floats as ``null``).

Only the standard library is imported at module level (torch lazily, by :func:`torch_save_atomic`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "DiskFullError",
    "atomic_path",
    "json_ready",
    "read_json",
    "sha256_file",
    "torch_save_atomic",
    "write_json_atomic",
    "write_text_atomic",
]


class DiskFullError(OSError):
    """Writing a file failed because its disk is full (the message names the file and the fix)."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on normal exit it replaces ``path`` (mode 0644).

    Readers (and Snakemake) see the old file, no file, or the complete new one. On any error
    the temporary file is removed; a full disk raises :class:`DiskFullError` naming ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are ordinary readable files
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if _is_disk_full(err):
            raise DiskFullError(errno.ENOSPC, f"no space left on the disk of {path.parent} while writing "
                                f"{path.name}; free some space (or point results_dir elsewhere) and rerun: "
                                "finished files are kept and the run continues where it stopped") from err
        raise


def _is_disk_full(err: BaseException) -> bool:
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        # torch.save reports a full disk as a RuntimeError from its C++ stream
        if isinstance(seen, RuntimeError) and ("iostream error" in str(seen) or "No space left" in str(seen)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`); create parent folders."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int = 2) -> Path:
    """Write ``obj`` as strict JSON to ``path`` atomically (:func:`json_ready` first: numpy/torch
    values become numbers and lists, paths strings, NaN/inf ``null``); create parent folders."""
    return write_text_atomic(path, json.dumps(json_ready(obj), indent=indent, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file written by :func:`write_json_atomic`."""
    with open(path) as fh:
        return json.load(fh)


def torch_save_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (checkpoints, weights)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def json_ready(x: Any) -> Any:
    """Nested structure made strict-JSON-ready: mappings (keys as strings) and sequences recursed,
    numpy/torch scalars and arrays converted with ``tolist()``, non-finite floats as ``None``."""
    if isinstance(x, Mapping):
        return {str(k): json_ready(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_ready(v) for v in x]
    if hasattr(x, "tolist"):
        return json_ready(x.tolist())
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    return x
