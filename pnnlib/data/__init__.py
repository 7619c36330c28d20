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
into a uint8 cache ``data/fashion_mnist_uint8.pt``, keyed by the files it came from and checked
against the SHA-256 recorded when it was written (:func:`~pnnlib.data.base.load_cache`).

Modules: :mod:`pnnlib.data.base` (:class:`SpikeData`, the registry, encoding, subsets),
:mod:`pnnlib.data.fmnist`, :mod:`pnnlib.data.iris`, :mod:`pnnlib.data.cifar`. A new dataset is
a function ``(root, download, seed) -> SpikeData`` decorated with
:func:`register_dataset`; subsetting is done by :func:`load_dataset` for all of them.
"""

from pnnlib.data import cifar, fmnist, iris  # noqa: F401  (each registers its dataset)
from pnnlib.data.base import (
    DATA_DIR,
    DATASETS,
    PROJECT_ROOT,
    SpikeData,
    encode_images,
    load_dataset,
    register_dataset,
    stratified_subset,
)
from pnnlib.data.fmnist import FMNIST_MD5, fashion_mnist, fashion_mnist_uint8
from pnnlib.data.iris import IRIS_N_TEST

__all__ = [
    "DATASETS",
    "DATA_DIR",
    "FMNIST_MD5",
    "IRIS_N_TEST",
    "PROJECT_ROOT",
    "SpikeData",
    "encode_images",
    "fashion_mnist",
    "fashion_mnist_uint8",
    "load_dataset",
    "register_dataset",
    "stratified_subset",
]
