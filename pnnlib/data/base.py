"""Spike data, the dataset registry, image encoding, stratified subsets (paper-spec §1.6, §3.5) and
the verified array caches of decoded datasets."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from pnnlib.io import UnreadableFileError, torch_load_safe, torch_save_atomic

__all__ = [
    "DATASETS",
    "DATA_DIR",
    "PROJECT_ROOT",
    "SpikeData",
    "encode_images",
    "file_key",
    "load_cache",
    "load_dataset",
    "register_dataset",
    "save_cache",
    "stratified_subset",
]

log = logging.getLogger("pnnlib.data")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("PNN_DATA_DIR", PROJECT_ROOT / "data"))
"""The project's (git-ignored) data folder: caches and torchvision downloads."""


@dataclass(frozen=True)
class SpikeData:
    """Input spike times and labels of one dataset.

    Attributes:
        name: registry name.
        train_t, test_t: float32 spike times, ``[N, ...]`` (images ``[N, C, H, W]``).
        train_y, test_y: int64 labels ``[N]``.
        n_classes: number of classes (labels are ``0 … n_classes-1``).
        augment: optional ``(t_batch, generator) -> t_batch`` applied to training batches
            (on spike times, on the training device; the generator is the trainer's seeded CPU
            generator, which keeps resumed runs exact; e.g. flips/crops for CIFAR-10, padding
            with "no spike").
    """

    name: str
    train_t: torch.Tensor
    train_y: torch.Tensor
    test_t: torch.Tensor
    test_y: torch.Tensor
    n_classes: int
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample (without the batch dimension)."""
        return tuple(self.train_t.shape[1:])


DatasetLoader = Callable[[Path | None, bool, int], SpikeData]
DATASETS: dict[str, DatasetLoader] = {}
"""Registered dataset loaders ``(root, download, seed) -> SpikeData`` by name."""


def register_dataset(name: str) -> Callable[[DatasetLoader], DatasetLoader]:
    """Decorator that adds a loader to :data:`DATASETS` under ``name``."""

    def deco(fn: DatasetLoader) -> DatasetLoader:
        DATASETS[name] = fn
        return fn

    return deco


def encode_images(x: torch.Tensor, tau_in: float = 1.0) -> torch.Tensor:
    r"""Image spike encoding :math:`t = \tau_{in}(1 - x)` (paper-spec §1.6).

    ``x`` is uint8 (0–255, scaled to [0, 1]) or float in [0, 1]; returns float32 times.
    """
    xf = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    return tau_in * (1.0 - xf)


def stratified_subset(y: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Indices of a seeded, class-stratified subset of size ``n`` (sorted).

    Each class gets ``n`` times its share (largest remainders fill up to ``n``), so a subset of a
    balanced dataset stays balanced.
    """
    if not 0 < n <= len(y):
        raise ValueError(f"subset size must lie in [1, {len(y)}], got {n}")
    g = torch.Generator().manual_seed(seed)
    classes, counts = torch.unique(y, return_counts=True)
    quota = counts.double() * n / len(y)
    take = quota.floor().long()
    rest = n - int(take.sum())
    take[torch.argsort(quota - take, descending=True)[:rest]] += 1
    picks = []
    for c, k in zip(classes.tolist(), take.tolist()):
        idx = torch.nonzero(y == c).flatten()
        picks.append(idx[torch.randperm(len(idx), generator=g)[:k]])
    return torch.sort(torch.cat(picks)).values


def load_dataset(
    name: str,
    *,
    train_subset: int | None = None,
    test_subset: int | None = None,
    seed: int = 0,
    root: str | Path | None = None,
    download: bool = False,
) -> SpikeData:
    """Load a registered dataset as spike times, optionally subsampled.

    Args:
        name: a key of :data:`DATASETS` (``"fashion_mnist"``, ``"iris"``, …).
        train_subset, test_subset: stratified subset sizes (``None`` = all).
        seed: seed of the subsets (and of the Iris split).
        root: folder with the raw files (dataset-specific; see the loaders).
        download: allow a network download when no local copy is found.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    data = DATASETS[name](None if root is None else Path(root), download, seed)
    if train_subset is not None:
        i = stratified_subset(data.train_y, train_subset, seed)
        data = replace(data, train_t=data.train_t[i], train_y=data.train_y[i])
    if test_subset is not None:
        i = stratified_subset(data.test_y, test_subset, seed + 1)
        data = replace(data, test_t=data.test_t[i], test_y=data.test_y[i])
    return data


# --------------------------------------------------------------------------- caches of decoded arrays

CACHE_FORMAT = "pnnlib-array-cache/1"
"""Marks a cache file written by :func:`save_cache` (older caches, plain lists, are recomputed)."""


def file_key(path: Path) -> list[Any]:
    """What identifies a source file for a cache: its resolved path, size and modification time."""
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def _digest(arrays: Sequence[torch.Tensor]) -> str:
    """SHA-256 of the arrays' dtypes, shapes and bytes."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.dtype}{tuple(a.shape)};".encode())
        h.update(a.detach().cpu().contiguous().numpy().data)
    return h.hexdigest()


def save_cache(path: Path, source: dict[str, Any], arrays: Sequence[torch.Tensor]) -> None:
    """Write ``arrays`` to the cache ``path`` (atomically), with the ``source`` they were decoded
    from (a mapping of plain values, e.g. :func:`file_key` of every source file) and their SHA-256."""
    torch_save_atomic(
        path, {"format": CACHE_FORMAT, "source": source, "sha256": _digest(arrays), "arrays": list(arrays)}
    )


def load_cache(path: Path, source: dict[str, Any]) -> tuple[torch.Tensor, ...] | None:
    """The arrays that :func:`save_cache` wrote to ``path`` for this ``source``, or ``None``.

    A cache is used only if it was made from the same source and its arrays still hash to the
    SHA-256 recorded at write time. A missing cache is ``None`` silently; any other miss (another
    source, changed or unreadable contents, an older format) logs a warning saying why, and the
    caller recomputes it.
    """
    if not path.is_file():
        return None
    why = None
    try:
        blob = torch_load_safe(path, map_location="cpu", fix="")
    except UnreadableFileError as err:
        why = str(err).removeprefix(f"cannot load {path}: ").strip()
    else:
        if not (isinstance(blob, dict) and blob.get("format") == CACHE_FORMAT):
            why = "it is not a cache of this version of pnnlib"
        elif blob.get("source") != source:
            why = f"it was made from another source ({blob.get('source')}, now {source})"
        elif not (
            isinstance(blob.get("arrays"), list)
            and all(isinstance(a, torch.Tensor) for a in blob["arrays"])
            and _digest(blob["arrays"]) == blob.get("sha256")
        ):
            why = "its contents changed since it was written (SHA-256 mismatch)"
    if why is not None:
        log.warning("cache %s not used: %s; recomputing it", path, why)
        return None
    return tuple(blob["arrays"])
