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

And the two ways files written by others are read back:

* :func:`torch_load_safe` — ``torch.load`` with ``weights_only=True`` (tensors and plain
  containers only: a pickled object that would run code on loading is refused, never executed);
  any failure is an :class:`UnreadableFileError` naming the file and the fix;
* :func:`yaml_load_strict` — YAML without anchors and aliases (``&a`` / ``*a``), so a
  "billion laughs" file cannot blow up into gigabytes in whoever prints or walks it.

Only the standard library is imported at module level (torch and PyYAML lazily).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "DiskFullError",
    "UnreadableFileError",
    "YamlAliasError",
    "atomic_path",
    "json_ready",
    "read_json",
    "sha256_file",
    "torch_load_safe",
    "torch_save_atomic",
    "write_json_atomic",
    "write_text_atomic",
    "yaml_load_strict",
]


class DiskFullError(OSError):
    """Writing a file failed because its disk is full (the message names the file and the fix)."""


class UnreadableFileError(ValueError):
    """A saved file cannot be loaded: corrupt, truncated, not what it should be, or holding Python
    objects whose loading could run code (the message names the file and the fix)."""


class YamlAliasError(ValueError):
    """A YAML text uses anchors or aliases, which configuration files may not (the message says
    where)."""


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
            raise DiskFullError(
                errno.ENOSPC,
                f"no space left on the disk of {path.parent} while writing "
                f"{path.name}; free some space (or point results_dir elsewhere) and rerun: "
                "finished files are kept and the run continues where it stopped",
            ) from err
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


def torch_load_safe(path: str | os.PathLike, *, fix: str, map_location: Any = None) -> Any:
    """``torch.load(path, weights_only=True)``: tensors, numbers, strings and plain containers only.

    A file that would need other Python objects (a pickle that runs code on loading, e.g. through
    ``__reduce__``) is refused before anything of it runs. Every failure except a missing file is
    an :class:`UnreadableFileError` that names ``path``, says what is wrong and ends with ``fix``
    (e.g. "delete it and rerun"); torch's own message, which suggests ``weights_only=False``, is
    not passed on.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnreadableFileError: anything else that stops the load.
    """
    import torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file; all mean "unreadable"
        found = re.search(r"GLOBAL (\S+)", str(err))
        if found:
            why = (
                f"it holds Python objects ({found.group(1)}) that loading would have to run code for; "
                "refused (such a file was not written by this project, or has been tampered with)"
            )
        else:
            why = f"it is corrupt, truncated or not a file written by torch.save ({type(err).__name__})"
        raise UnreadableFileError(f"cannot load {path}: {why}. {fix}") from None


def yaml_load_strict(text: str, *, source: str, loader: type | None = None) -> Any:
    """Parse YAML like ``yaml.safe_load`` (or with ``loader``, a ``yaml.SafeLoader`` subclass), but
    refuse anchors and aliases (``&name``, ``*name``).

    Aliases let a few hundred bytes stand for gigabytes once the data are printed, compared or
    serialised ("billion laughs"); configuration files never need them.

    Raises:
        YamlAliasError: naming ``source`` and the line of the first anchor or alias.
    """
    import yaml

    try:
        return yaml.load(text, Loader=_strict_loader(loader or yaml.SafeLoader))
    except YamlAliasError as err:
        raise YamlAliasError(f"{source}, {err}") from None


@functools.lru_cache(maxsize=8)
def _strict_loader(base: type) -> type:
    """``base`` with anchors and aliases refused (one class per base, made once)."""
    import yaml

    class StrictLoader(base):  # type: ignore[misc, valid-type]
        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise YamlAliasError(
                    f"line {event.start_mark.line + 1}: YAML anchors and aliases (&name, *name) "
                    "are not allowed in configuration files; write the values out"
                )
            return super().compose_node(parent, index)

    return StrictLoader


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
