r"""CIFAR-10 for the convolutional experiments (paper-spec §3.5): loading, checks, cache, augmentation.

Where the images come from, in this order:

1. ``root`` (the ``data_dir`` config key of :class:`pnnlib.train.TrainConfig`) or the environment
   variable ``PNN_CIFAR10``: a ``.tar.gz`` of an image-folder tree, the tree itself
   (``train/<class>/*.jpg``, ``test/<class>/*.jpg``), or a torchvision root holding
   ``cifar-10-batches-py``. Relative paths are tried against the working directory, then the
   project root. Whatever is named there must load; nothing else is tried.
2. torchvision's extracted original batches under the project's ``data/`` folder, if present.
3. ``download=True``: torchvision's download into ``data/`` (the original CIFAR-10); when the
   network is unreachable this falls through, with a warning, to
4. the local copy of these machines, ``../shared/datasets/cifar10-jpeg.tar.gz`` next to the
   project (:data:`DEFAULT_LOCAL_COPY`): a JPEG (quality 75) re-encoding of CIFAR-10, checked
   against its SHA-256 (:data:`CIFAR10_JPEG_SHA256`). Results on it are labelled
   :data:`JPEG_LABEL`, "CIFAR-10 (JPEG q75 copy)" (:func:`source_label`).

Every copy is verified when it is decoded: a tarball is read to the end of its compressed
stream, so gzip's CRC-32 is checked (a byte flipped anywhere is an error), one named like the
shared copy must also have its SHA-256, and every JPEG must decode without a libjpeg error or
warning ("Corrupt JPEG data" is an error naming the image). An image-folder copy is decoded
once into a uint8 cache ``data/cifar10_<key>.pt`` (written atomically; keyed by the tarball's
SHA-256, or the tree's path and file list with sizes and modification times; its arrays checked
against the SHA-256 recorded when it was written, see :func:`pnnlib.data.base.load_cache`), so
later loads take a second, not a decode of 60,000 JPEGs. Classes are the folder names sorted
alphabetically, which is CIFAR-10's label order (:data:`CIFAR10_CLASSES`); a copy with other
class names, a missing or undecodable image, or a count per class and split other than
5,000 (train) / 1,000 (test) is rejected with an error that says what is wrong.

Encoding (paper-spec §1.6): :math:`t = 1 - x` with :math:`x = \text{pixel}/255 \in [0, 1]` (min–max
scaling of the 8-bit range, no per-channel standardisation; [inferred], paper-spec §8 item 8).

Augmentation (:class:`Augment`, training batches only): random horizontal flip, rotation and
crop with zero padding, "following Zhou et al., AAAI 2021" (paper-spec §3.5), whose parameters
are not given; ours, [inferred]: flip with probability 1/2, rotation uniform in ±15°, crop of
the 4-pixel zero-padded image at a uniform integer offset (a shift of up to ±4 pixels).

This module is long (~450 lines) on purpose: it is one dataset's whole path from an untrusted file to
spike times (verified reading of tarball or folder, decoding with libjpeg warnings as errors, the
verified cache, augmentation), and each step's checks refer to the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import lzma
import os
import sys
import tarfile
import tempfile
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pnnlib.data.base import DATA_DIR, PROJECT_ROOT, SpikeData, encode_images, load_cache, register_dataset, save_cache

__all__ = [
    "Augment",
    "CIFAR10_CLASSES",
    "CIFAR10_JPEG_SHA256",
    "COUNTS_PER_CLASS",
    "Cifar10Arrays",
    "DEFAULT_LOCAL_COPY",
    "JPEG_LABEL",
    "ORIGINAL_LABEL",
    "cifar10",
    "cifar10_uint8",
    "read_image_folder",
    "source_label",
]

log = logging.getLogger("pnnlib.data.cifar")

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
"""CIFAR-10's classes in label order (= alphabetical order)."""

COUNTS_PER_CLASS = {"train": 5000, "test": 1000}
"""Images per class in each split of CIFAR-10."""

CIFAR10_JPEG_SHA256 = "42ea2eddecb00481d51335bc337475342df3d11eb08f516b6249598244cbfdf1"
"""SHA-256 of ``cifar10-jpeg.tar.gz`` (the shared datasets README)."""

DEFAULT_LOCAL_COPY = PROJECT_ROOT.parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"
"""``../shared/datasets/cifar10-jpeg.tar.gz`` relative to the project root."""

JPEG_LABEL = "CIFAR-10 (JPEG q75 copy)"
ORIGINAL_LABEL = "CIFAR-10"

_HOW_TO_GET = (
    "Point PNN_CIFAR10 (or the data_dir config key) at a .tar.gz or folder of train/<class>/*.jpg and "
    "test/<class>/*.jpg, put torchvision's cifar-10-batches-py under data/, allow the download "
    f"(download=True), or provide the shared copy at {DEFAULT_LOCAL_COPY}."
)


@dataclass(frozen=True)
class Cifar10Arrays:
    """CIFAR-10 as uint8 images ``[N, 3, 32, 32]`` and int64 labels, with where it came from."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    label: str
    source: str


# --------------------------------------------------------------------------- reading


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _split_class(parts: tuple[str, ...]) -> tuple[str, str] | None:
    """(split, class) of a path ``…/<split>/<class>/<file>.jpg``, or ``None`` for other files."""
    if len(parts) < 3 or not parts[-1].lower().endswith((".jpg", ".jpeg")):
        return None
    if parts[-3] not in COUNTS_PER_CLASS:
        return None
    return parts[-3], parts[-2]


def _tar_images(path: Path) -> Iterator[tuple[str, str, str, bytes]]:
    """The images of a tar archive (plain or compressed), then a read to the end of the compressed
    stream, so that its checksum (gzip's CRC-32 and length; bz2's and xz's checks) is verified:
    tarfile stops at the end-of-archive block and would never reach it."""
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key = _split_class(Path(member.name).parts)
                if key is None:
                    continue
                f = tar.extractfile(member)
                yield key[0], key[1], member.name, f.read()
            while tar.fileobj.read(1 << 20):
                pass
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError) as e:
        raise ValueError(
            f"CIFAR-10 copy {path} cannot be read as a tar archive ({type(e).__name__}: {e}); the file is "
            f"truncated or corrupt: replace it with a good copy. {_HOW_TO_GET}"
        ) from e


def _folder_images(path: Path) -> Iterator[tuple[str, str, str, bytes]]:
    for split in COUNTS_PER_CLASS:
        for f in sorted((path / split).glob("*/*")):
            key = _split_class(f.relative_to(path).parts)
            if key is not None and f.is_file():
                yield key[0], key[1], str(f), f.read_bytes()


@contextlib.contextmanager
def _c_stderr() -> Iterator[list[str]]:
    """Collect what C code writes to the process's standard error (file descriptor 2) inside the
    block; the text is in the yielded list afterwards.

    libjpeg reports recoverable damage there ("Corrupt JPEG data: 148 extraneous bytes before
    marker 0xd9") and decodes on, returning a damaged image. Python warnings raised meanwhile are
    shown after the block, not captured.
    """
    sys.stderr.flush()
    text: list[str] = []
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink, warnings.catch_warnings(record=True) as caught:
        os.dup2(sink.fileno(), 2)
        try:
            yield text
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text.append(sink.read().decode(errors="replace"))
    for w in caught:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _decode(files: list[tuple[str, bytes]]) -> torch.Tensor:
    """JPEG bytes → uint8 ``[N, 3, 32, 32]``, one batched libjpeg call.

    Damage is an error, including what libjpeg only warns about: if the call fails or libjpeg
    reports anything, each image is decoded alone to name the culprit.
    """
    from torchvision.io import ImageReadMode, decode_jpeg

    def as_tensor(data: bytes) -> torch.Tensor:
        return torch.frombuffer(bytearray(data), dtype=torch.uint8)

    try:
        with _c_stderr() as messages:
            images = decode_jpeg([as_tensor(d) for _, d in files], mode=ImageReadMode.RGB)
    except RuntimeError:
        images = None
    if images is None or messages[0].strip():
        for name, data in files:
            with _c_stderr() as said:
                try:
                    decode_jpeg(as_tensor(data), mode=ImageReadMode.RGB)
                except RuntimeError as e:
                    raise ValueError(
                        f"CIFAR-10 image {name} cannot be decoded ({e}); the copy is corrupt: "
                        f"replace it with a good copy. {_HOW_TO_GET}"
                    ) from e
            if said[0].strip():
                raise ValueError(
                    f"CIFAR-10 image {name} is damaged (libjpeg: {said[0].strip()}); the copy is "
                    f"corrupt: replace it with a good copy. {_HOW_TO_GET}"
                )
        if images is None:
            raise RuntimeError("decode_jpeg failed on the batch but on none of its images alone")
        sys.stderr.write(messages[0])  # not from any one image: pass it on
    for (name, _), im in zip(files, images):
        if im.shape != (3, 32, 32):
            raise ValueError(f"CIFAR-10 image {name} has shape {tuple(im.shape)}, expected 3×32×32 (RGB)")
    return torch.stack(images)


def read_image_folder(
    path: str | Path,
    counts: dict[str, int] | None = COUNTS_PER_CLASS,
    sha256: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Decode an image-folder copy of CIFAR-10 (a ``.tar``/``.tar.gz`` of it, or the folder) of
    JPEG files.

    Every archive is read completely, its compression's checksum included (gzip's CRC-32), and
    every image must decode without a libjpeg error or warning. An archive named like the shared
    copy (:data:`DEFAULT_LOCAL_COPY`) must also have its SHA-256 (:data:`CIFAR10_JPEG_SHA256`).

    Args:
        path: the archive or the folder holding ``train/<class>/*`` and ``test/<class>/*``.
        counts: required images per class for each split (``None`` = any, but every class must
            appear in both splits).
        sha256: required SHA-256 of the archive (``None`` = the shared copy's for an archive of
            its name, else none).

    Returns:
        ``(train_x, train_y, test_x, test_y)``: uint8 ``[N, 3, 32, 32]`` and int64 labels, images
        ordered by class, then file name; class index = position in :data:`CIFAR10_CLASSES`.

    Raises:
        ValueError: wrong checksum, unreadable archive or image, unknown or missing classes, or
        a count per class that differs from ``counts`` (naming the file, split or class).
    """
    path = Path(path)
    if path.is_file():
        _check_sha256(path, _sha256(path), sha256)
    return _read_checked(path, counts)


def _check_sha256(path: Path, got: str, expected: str | None) -> None:
    """``got`` (the archive's SHA-256) must be ``expected``, or the shared copy's for its name."""
    if expected is None and path.name == DEFAULT_LOCAL_COPY.name:
        expected = CIFAR10_JPEG_SHA256
    if expected is not None and got != expected:
        raise ValueError(
            f"CIFAR-10 copy {path} has SHA-256 {got}, expected {expected}: the file is corrupt, "
            f"incomplete or a different copy; replace it with a good copy. {_HOW_TO_GET}"
        )


def _read_checked(path: Path, counts: dict[str, int] | None) -> tuple[torch.Tensor, ...]:
    """:func:`read_image_folder` after the checksum check."""
    if path.is_file():
        items = _tar_images(path)
    elif path.is_dir():
        items = _folder_images(path)
    else:
        raise FileNotFoundError(f"CIFAR-10 copy {path} does not exist. {_HOW_TO_GET}")
    found: dict[str, dict[str, list[tuple[str, bytes]]]] = {s: {} for s in COUNTS_PER_CLASS}
    for split, cls, name, data in items:
        found[split].setdefault(cls, []).append((name, data))
    out: list[torch.Tensor] = []
    for split in ("train", "test"):
        classes = tuple(sorted(found[split]))
        if classes != CIFAR10_CLASSES:
            missing = sorted(set(CIFAR10_CLASSES) - set(classes))
            extra = sorted(set(classes) - set(CIFAR10_CLASSES))
            raise ValueError(
                f"CIFAR-10 copy {path}, split {split!r}: class folders missing {missing}, unexpected {extra} "
                f"(expected the ten CIFAR-10 classes). {_HOW_TO_GET}"
            )
        wrong = {c: len(v) for c, v in found[split].items() if counts is not None and len(v) != counts[split]}
        if wrong:
            raise ValueError(
                f"CIFAR-10 copy {path} is incomplete or has extra files: split {split!r} has {wrong} images "
                f"in these classes, expected {counts[split]} per class. {_HOW_TO_GET}"
            )
        files = [f for cls in CIFAR10_CLASSES for f in sorted(found[split][cls])]
        ys = [label for label, cls in enumerate(CIFAR10_CLASSES) for _ in found[split][cls]]
        out += [_decode(files), torch.tensor(ys)]
    return out[0], out[1], out[2], out[3]


def _read_torchvision(root: Path, download: bool) -> tuple[torch.Tensor, ...]:
    import torchvision

    parts = []
    for train in (True, False):
        ds = torchvision.datasets.CIFAR10(str(root), train=train, download=download)
        parts += [torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets)]
    return tuple(parts)


# --------------------------------------------------------------------------- sources and cache


def _resolve(p: str | Path) -> Path:
    """An explicit path: as given if it exists, else relative to the project root."""
    p = Path(p).expanduser()
    if p.exists() or p.is_absolute():
        return p
    return PROJECT_ROOT / p


def _explicit_source(root: str | Path | None) -> Path | None:
    if root is not None:
        return _resolve(root)
    env = os.environ.get("PNN_CIFAR10")
    return _resolve(env) if env else None


def _is_torchvision_root(p: Path) -> bool:
    return (p / "cifar-10-batches-py").is_dir()


def source_label(root: str | Path | None = None, download: bool = False) -> str:
    """How results on the CIFAR-10 that :func:`cifar10_uint8` would load must be labelled."""
    src = _explicit_source(root)
    if src is not None:
        return ORIGINAL_LABEL if src.is_dir() and _is_torchvision_root(src) else JPEG_LABEL
    if _is_torchvision_root(DATA_DIR) or download:
        return ORIGINAL_LABEL
    return JPEG_LABEL


def _source(path: Path) -> dict[str, object]:
    """What a cache of ``path`` is keyed by: an archive's SHA-256 (checked against the shared
    copy's for its name), or a folder's resolved path and a digest of its files' names, sizes and
    modification times."""
    if path.is_file():
        digest = _sha256(path)
        _check_sha256(path, digest, None)
        return {"dataset": "cifar10", "sha256": digest}
    if not path.is_dir():
        raise FileNotFoundError(f"CIFAR-10 copy {path} does not exist. {_HOW_TO_GET}")
    listing = sorted(
        f"{f.relative_to(path)}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in path.glob("*/*/*") if f.is_file()
    )
    return {
        "dataset": "cifar10",
        "folder": str(path.resolve()),
        "listing": hashlib.sha256("\n".join(listing).encode()).hexdigest(),
    }


def _load_image_folder_cached(path: Path, cache_dir: Path) -> tuple[torch.Tensor, ...]:
    """:func:`read_image_folder` through the verified cache ``cache_dir/cifar10_<key>.pt``
    (:func:`pnnlib.data.base.load_cache`: another source or changed contents are recomputed)."""
    source = _source(path)
    key = str(source.get("sha256") or hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest())
    cache = cache_dir / f"cifar10_{key[:16]}.pt"
    arrays = load_cache(cache, source)
    if arrays is None:
        log.info("decoding CIFAR-10 from %s (once; cached in %s)", path, cache)
        arrays = _read_checked(path, COUNTS_PER_CLASS)
        save_cache(cache, source, arrays)
    return arrays


def cifar10_uint8(
    root: str | Path | None = None, download: bool = False, cache_dir: str | Path | None = None
) -> Cifar10Arrays:
    """CIFAR-10 (50,000 + 10,000 images, 32×32×3) as uint8 tensors, from the first source of the
    module docstring's list; image-folder copies go through the uint8 cache in ``cache_dir``
    (default: the project's ``data/``)."""
    cache_dir = DATA_DIR if cache_dir is None else Path(cache_dir)
    src = _explicit_source(root)
    if src is not None:
        if src.is_dir() and _is_torchvision_root(src):
            return Cifar10Arrays(*_read_torchvision(src, False), ORIGINAL_LABEL, str(src))
        return Cifar10Arrays(*_load_image_folder_cached(src, cache_dir), JPEG_LABEL, str(src))
    if _is_torchvision_root(DATA_DIR):
        return Cifar10Arrays(*_read_torchvision(DATA_DIR, False), ORIGINAL_LABEL, str(DATA_DIR))
    if download:
        try:
            return Cifar10Arrays(*_read_torchvision(DATA_DIR, True), ORIGINAL_LABEL, str(DATA_DIR))
        except (OSError, RuntimeError) as e:
            log.warning("CIFAR-10 download failed (%s); using the local copy %s", e, DEFAULT_LOCAL_COPY)
    if DEFAULT_LOCAL_COPY.is_file():
        arrays = _load_image_folder_cached(DEFAULT_LOCAL_COPY, cache_dir)
        return Cifar10Arrays(*arrays, JPEG_LABEL, str(DEFAULT_LOCAL_COPY))
    raise FileNotFoundError(f"CIFAR-10 not found. {_HOW_TO_GET}")


# --------------------------------------------------------------------------- augmentation


@dataclass(frozen=True)
class Augment:
    """Random flip, rotation and padded crop of a batch of image spike times (paper-spec §3.5).

    Works on the tensors' device in one ``grid_sample`` call: the transform acts on
    :math:`x = 1 - t`, with zeros (t = 1, "no spike") outside the image, bilinear interpolation,
    and per-sample random parameters drawn from the given CPU generator. Output times stay in
    the input's range (for [0, 1] inputs: in [0, 1]); a pure shift and flip is exact.

    Attributes:
        flip_p: probability of a horizontal flip.
        max_degrees: rotation angle uniform in ``[-max_degrees, max_degrees]``.
        pad: crop of the ``pad``-pixel zero-padded image at a uniform integer offset, i.e. a
            shift by up to ``±pad`` pixels in each direction.
    """

    flip_p: float = 0.5
    max_degrees: float = 15.0
    pad: int = 4

    def __call__(self, t: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        b, _, h, w = t.shape
        flip = torch.where(torch.rand(b, generator=gen) < self.flip_p, -1.0, 1.0)
        angle = (torch.rand(b, generator=gen) * 2 - 1) * np.deg2rad(self.max_degrees)
        shift = torch.randint(-self.pad, self.pad + 1, (b, 2), generator=gen).float()
        cos, sin = torch.cos(angle), torch.sin(angle)
        # Output pixel -> input pixel in normalised coordinates (align_corners=False): flip,
        # rotate, then shift by whole pixels (2/size per pixel).
        theta = torch.stack(
            [
                torch.stack([flip * cos, -sin, shift[:, 0] * 2 / w], 1),
                torch.stack([flip * sin, cos, shift[:, 1] * 2 / h], 1),
            ],
            1,
        ).to(device=t.device, dtype=t.dtype)
        grid = F.affine_grid(theta, list(t.shape), align_corners=False)
        x = F.grid_sample(1.0 - t, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return 1.0 - x


# --------------------------------------------------------------------------- registry


@register_dataset("cifar10")
def cifar10(root: Path | None = None, download: bool = False, seed: int = 0) -> SpikeData:
    """CIFAR-10 (50k/10k, 32×32×3, 10 classes) as :math:`t = 1 - x` with :class:`Augment` for
    training batches (paper-spec §3.5). See :func:`source_label` for how to label results."""
    del seed  # fixed official split
    a = cifar10_uint8(root, download)
    return SpikeData(
        "cifar10", encode_images(a.train_x), a.train_y, encode_images(a.test_x), a.test_y, 10, augment=Augment()
    )
