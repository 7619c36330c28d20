r"""Datasets and spike encoding (paper-spec §1.6, §3.5).

Every dataset is registered by name in :data:`DATASETS` and loaded with :func:`load_dataset`,
which returns a :class:`SpikeData`: input **spike times** (float32) and integer labels for the
training and test sets, optionally subsampled (stratified, seeded).

Encodings:

* images (Fashion-MNIST, and CIFAR-10 once its loader is registered):
  :math:`t^{(0)} = \tau_{in}(1-x)`, x ∈ [0, 1] the pixel value / 255, τ_in = 1, so bright pixels
  spike early (:func:`encode_images`); tensors keep their image shape ``[N, C, H, W]`` (an MLP
  flattens them);
* Iris (the circuit experiment): :math:`t^{(0)}_i = \tau_{in}x_i` (**not** 1 − x) with min–max
  scaled features, plus a bias spike :math:`t^{(0)}_4 = 0`, giving 5 inputs (:func:`iris`).

Fashion-MNIST is read from the original IDX files: from the ``root`` argument (the ``data_dir``
config key) alone when given, else first from ``PNN_FMNIST_DIR``, then the Debian package
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``), then torchvision's layout
under the project's ``data/`` folder, and, only with ``download=True``, torchvision's download
into ``data/``. The unpacked files are checked against the MD5s of the release and decoded once
into a uint8 cache ``data/fashion_mnist_uint8.pt``.

A new dataset (e.g. ``cifar10``) is a function ``(root, download, seed) -> SpikeData`` decorated with
:func:`register_dataset`; subsetting is done by :func:`load_dataset` for all of them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "DATASETS",
    "FMNIST_MD5",
    "SpikeData",
    "encode_images",
    "fashion_mnist",
    "fashion_mnist_uint8",
    "iris",
    "load_dataset",
    "register_dataset",
    "stratified_subset",
]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("PNN_DATA_DIR", PROJECT_ROOT / "data"))
"""The project's (git-ignored) data folder: caches and torchvision downloads."""

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


# --------------------------------------------------------------------------- Fashion-MNIST


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
    raise FileNotFoundError(
        f"Fashion-MNIST not found (searched {[str(d) for d in searched]}). {_HOW_TO_GET}"
    )


def fashion_mnist_uint8(
    root: str | Path | None = None, download: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fashion-MNIST as uint8 tensors ``(train_x [60000,1,28,28], train_y, test_x, test_y)``.

    With ``root=None`` the verified arrays are cached in ``data/fashion_mnist_uint8.pt`` (loads in
    milliseconds afterwards); an explicit ``root`` is always read and verified afresh.
    """
    cache = DATA_DIR / "fashion_mnist_uint8.pt"
    if root is None and cache.is_file():
        return tuple(torch.load(cache, weights_only=True))
    folder = _locate_fmnist(None if root is None else Path(root), download)
    arrays = {}
    for stem in FMNIST_MD5:
        arrays[stem] = torch.from_numpy(_parse_idx(_read_verified(_find_idx(folder, stem), stem)).copy())
    out = (
        arrays["train-images-idx3-ubyte"].unsqueeze(1),
        arrays["train-labels-idx1-ubyte"].long(),
        arrays["t10k-images-idx3-ubyte"].unsqueeze(1),
        arrays["t10k-labels-idx1-ubyte"].long(),
    )
    if root is None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp{os.getpid()}")
        torch.save(list(out), tmp)
        os.replace(tmp, cache)
    return out


@register_dataset("fashion_mnist")
def fashion_mnist(root: Path | None = None, download: bool = False, seed: int = 0) -> SpikeData:
    """Fashion-MNIST (60k/10k, 28×28×1, 10 classes) encoded as :math:`t = 1 - x` (§3.5)."""
    del seed  # fixed official split
    trx, try_, tex, tey = fashion_mnist_uint8(root, download)
    return SpikeData("fashion_mnist", encode_images(trx), try_, encode_images(tex), tey, 10)


# --------------------------------------------------------------------------- Iris

IRIS_N_TEST = 50


@register_dataset("iris")
def iris(root: Path | None = None, download: bool = False, seed: int = 0) -> SpikeData:
    r"""Iris (scikit-learn's bundled copy) for the circuit experiment (paper-spec §1.6, §3.5).

    * Features: min–max scaled over all 150 samples to [0, 1] ([inferred]; the scaling is not
      stated, and using the fixed ranges of the whole set keeps every input time inside the
      circuit's accumulation window), encoded as :math:`t_i = \tau_{in}x_i` (τ_in = 1), i = 0..3,
      plus a bias spike :math:`t_4 = 0`: 5 inputs.
    * Split: 100 train / 50 test, stratified by class (scikit-learn ``train_test_split`` with
      ``random_state=seed``), deterministic for a given seed.
    * Classes 0, 1, 2 (setosa, versicolor, virginica) are read from output neurons 0, 1, 2 of the
      5-output circuit network; outputs 3 and 4 carry no class (how they enter the loss is the
      training option ``extra_outputs``, see :func:`pnnlib.train.classification_loss`).
    """
    del root, download  # bundled with scikit-learn
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    x, y = load_iris(return_X_y=True)
    x = (x - x.min(0)) / (x.max(0) - x.min(0))
    t = np.concatenate([x, np.zeros((len(x), 1))], 1).astype(np.float32)
    tr, te = train_test_split(np.arange(len(y)), test_size=IRIS_N_TEST, stratify=y, random_state=seed)
    tr, te = np.sort(tr), np.sort(te)
    tt, yy = torch.from_numpy(t), torch.from_numpy(y).long()
    return SpikeData("iris", tt[tr], yy[tr], tt[te], yy[te], 3)


from pnnlib import cifar as _cifar  # noqa: E402, F401  (registers "cifar10"; imported last: it uses this module)
