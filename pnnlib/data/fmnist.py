"""Fashion-MNIST from the original IDX files, verified against the release's MD5s (paper-spec §3.5)."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from pnnlib.data.base import DATA_DIR, SpikeData, encode_images, file_key, load_cache, register_dataset, save_cache

__all__ = ["FMNIST_MD5", "fashion_mnist", "fashion_mnist_uint8"]

DEBIAN_FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

FMNIST_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
"""MD5 of the **unpacked** IDX files of the Zalando release (the Debian package recompressed the
``.gz`` files, so only the unpacked bytes are comparable)."""

_HOW_TO_GET = (
    "Install the Debian package (`apt-get install dataset-fashion-mnist`, files in "
    f"{DEBIAN_FMNIST_DIR}), point PNN_FMNIST_DIR (or the config key data_dir) at a folder with "
    "the four IDX files (gzipped or not), or allow torchvision's download "
    "(load_dataset(..., download=True))."
)


def _fmnist_candidates(root: Path | None) -> list[Path]:
    """An explicit ``root`` is the only place searched; otherwise the documented order."""
    if root is not None:
        return [root]
    dirs = []
    if os.environ.get("PNN_FMNIST_DIR"):
        dirs.append(Path(os.environ["PNN_FMNIST_DIR"]))
    dirs += [DEBIAN_FMNIST_DIR, DATA_DIR / "FashionMNIST" / "raw"]
    return dirs


def _find_idx(folder: Path, stem: str) -> Path | None:
    for p in (folder / stem, folder / f"{stem}.gz"):
        if p.is_file():
            return p
    return None


def _read_verified(path: Path, stem: str) -> bytes:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"Fashion-MNIST file {path} is not a valid gzip file ({e}). {_HOW_TO_GET}") from e
    md5 = hashlib.md5(raw).hexdigest()
    if md5 != FMNIST_MD5[stem]:
        raise ValueError(
            f"Fashion-MNIST file {path} is corrupt: MD5 of the unpacked data is {md5}, expected "
            f"{FMNIST_MD5[stem]}. Replace it. {_HOW_TO_GET}"
        )
    return raw


def _parse_idx(raw: bytes) -> np.ndarray:
    """Decode an IDX file (big-endian header: magic with the rank in its last byte, then dims)."""
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _locate_fmnist(root: Path | None, download: bool) -> Path:
    searched = _fmnist_candidates(root)
    for folder in searched:
        if all(_find_idx(folder, stem) for stem in FMNIST_MD5):
            return folder
    if root is not None:
        missing = [s for s in FMNIST_MD5 if _find_idx(root, s) is None]
        raise FileNotFoundError(f"Fashion-MNIST files missing in {root}: {missing}. {_HOW_TO_GET}")
    if download:
        import torchvision

        torchvision.datasets.FashionMNIST(DATA_DIR, train=True, download=True)
        torchvision.datasets.FashionMNIST(DATA_DIR, train=False, download=True)
        return DATA_DIR / "FashionMNIST" / "raw"
    raise FileNotFoundError(f"Fashion-MNIST not found (searched {[str(d) for d in searched]}). {_HOW_TO_GET}")


def fashion_mnist_uint8(
    root: str | Path | None = None, download: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fashion-MNIST as uint8 tensors ``(train_x [60000,1,28,28], train_y, test_x, test_y)``.

    With ``root=None`` the verified arrays are cached in ``data/fashion_mnist_uint8.pt`` (loads in
    a fraction of a second afterwards), keyed by the IDX files they came from (path, size and
    modification time of each) and checked against the SHA-256 recorded when it was written: a
    cache of another source (e.g. after ``PNN_FMNIST_DIR`` changed) or with changed contents is
    rebuilt, with a warning. The source is located on every call, cache or not. An explicit
    ``root`` is always read and verified afresh.
    """
    folder = _locate_fmnist(None if root is None else Path(root), download)
    files = {stem: _find_idx(folder, stem) for stem in FMNIST_MD5}
    if root is not None:
        return _read_release(files)
    cache = DATA_DIR / "fashion_mnist_uint8.pt"
    source = {"dataset": "fashion_mnist", "files": {stem: file_key(path) for stem, path in files.items()}}
    arrays = load_cache(cache, source)
    if arrays is None:
        arrays = _read_release(files)
        save_cache(cache, source, arrays)
    return arrays


def _read_release(files: dict[str, Path]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The four IDX files, each verified against the release's MD5, as uint8 images and int64 labels."""
    arrays = {stem: torch.from_numpy(_parse_idx(_read_verified(path, stem)).copy()) for stem, path in files.items()}
    return (
        arrays["train-images-idx3-ubyte"].unsqueeze(1),
        arrays["train-labels-idx1-ubyte"].long(),
        arrays["t10k-images-idx3-ubyte"].unsqueeze(1),
        arrays["t10k-labels-idx1-ubyte"].long(),
    )


@register_dataset("fashion_mnist")
def fashion_mnist(root: Path | None = None, download: bool = False, seed: int = 0) -> SpikeData:
    """Fashion-MNIST (60k/10k, 28×28×1, 10 classes) encoded as :math:`t = 1 - x` (§3.5)."""
    del seed  # fixed official split
    trx, try_, tex, tey = fashion_mnist_uint8(root, download)
    return SpikeData("fashion_mnist", encode_images(trx), try_, encode_images(tex), tey, 10)
