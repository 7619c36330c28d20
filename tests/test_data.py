"""Datasets and spike encoding (pnnlib.data) on the real files."""

import gzip
from pathlib import Path

import pytest
import torch

from pnnlib import data
from pnnlib.data import fmnist


@pytest.fixture(scope="module")
def fmnist_dir() -> Path:
    folder = fmnist.DEBIAN_FMNIST_DIR
    if not all((folder / f"{s}.gz").is_file() for s in fmnist.FMNIST_MD5):
        pytest.skip("needs the Debian package dataset-fashion-mnist")
    return folder


@pytest.mark.slow
def test_fashion_mnist_is_the_full_release_encoded_as_one_minus_x(fmnist_dir) -> None:
    d = data.load_dataset("fashion_mnist")
    assert d.train_t.shape == (60000, 1, 28, 28) and d.test_t.shape == (10000, 1, 28, 28)
    assert d.train_t.dtype == torch.float32 and d.n_classes == 10
    assert torch.equal(torch.bincount(d.train_y), torch.full((10,), 6000))
    assert torch.equal(torch.bincount(d.test_y), torch.full((10,), 1000))
    assert 0.0 <= float(d.train_t.min()) and float(d.train_t.max()) == 1.0
    # t = 1 - x: the background (x = 0) spikes at the window end; some pixels are saturated (t = 0).
    assert float((d.train_t[:100] == 1.0).float().mean()) > 0.3 and float(d.train_t.min()) == 0.0


def test_encoding_maps_bright_pixels_to_early_spikes() -> None:
    x = torch.tensor([0, 51, 255], dtype=torch.uint8)
    assert torch.allclose(data.encode_images(x), torch.tensor([1.0, 0.8, 0.0]))
    assert torch.allclose(data.encode_images(torch.tensor([0.25]), tau_in=2.0), torch.tensor([1.5]))


@pytest.mark.slow
def test_subsets_are_stratified_and_deterministic(fmnist_dir) -> None:
    a = data.load_dataset("fashion_mnist", train_subset=500, test_subset=203, seed=3)
    b = data.load_dataset("fashion_mnist", train_subset=500, test_subset=203, seed=3)
    c = data.load_dataset("fashion_mnist", train_subset=500, test_subset=203, seed=4)
    assert torch.equal(a.train_t, b.train_t) and not torch.equal(a.train_t, c.train_t)
    assert torch.equal(torch.bincount(a.train_y), torch.full((10,), 50))
    counts = torch.bincount(a.test_y)
    assert len(a.test_y) == 203 and int(counts.min()) == 20 and int(counts.max()) == 21


def _fake_dir(tmp_path: Path, src: Path, skip: str | None = None, corrupt: str | None = None) -> Path:
    """A copy of the release (links to the real files) with one file left out or corrupted."""
    for stem in fmnist.FMNIST_MD5:
        if stem == skip:
            continue
        if stem == corrupt:
            raw = bytearray(gzip.decompress((src / f"{stem}.gz").read_bytes()))
            raw[-1] ^= 0xFF
            (tmp_path / stem).write_bytes(bytes(raw))  # unpacked form is accepted too
        else:
            (tmp_path / f"{stem}.gz").symlink_to(src / f"{stem}.gz")
    return tmp_path


def test_corrupt_file_is_a_clear_error(fmnist_dir, tmp_path) -> None:
    root = _fake_dir(tmp_path, fmnist_dir, corrupt="t10k-labels-idx1-ubyte")
    msg = r"t10k-labels-idx1-ubyte is corrupt.*MD5.*apt-get install dataset-fashion-mnist"
    with pytest.raises(ValueError, match=msg):
        data.load_dataset("fashion_mnist", root=root)


def test_truncated_gzip_is_a_clear_error(fmnist_dir, tmp_path) -> None:
    root = _fake_dir(tmp_path, fmnist_dir, skip="t10k-labels-idx1-ubyte")
    good = (fmnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="not a valid gzip file.*apt-get install"):
        data.load_dataset("fashion_mnist", root=root)


def test_missing_file_is_a_clear_error(fmnist_dir, tmp_path) -> None:
    root = _fake_dir(tmp_path, fmnist_dir, skip="train-labels-idx1-ubyte")
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte.*apt-get install dataset-fashion-mnist"):
        data.load_dataset("fashion_mnist", root=root)


@pytest.mark.slow
def test_env_var_directory_is_searched_first(fmnist_dir, tmp_path, monkeypatch) -> None:
    (tmp_path / "bad").mkdir()
    bad = _fake_dir(tmp_path / "bad", fmnist_dir, corrupt="t10k-labels-idx1-ubyte")
    monkeypatch.setenv("PNN_FMNIST_DIR", str(bad))
    monkeypatch.setattr(fmnist, "DATA_DIR", tmp_path / "cache")  # no cache: the search runs
    with pytest.raises(ValueError, match=str(bad)):
        fmnist.fashion_mnist_uint8()
    monkeypatch.delenv("PNN_FMNIST_DIR")
    x, y, xt, yt = fmnist.fashion_mnist_uint8()  # falls back to the Debian files, then caches
    assert x.shape == (60000, 1, 28, 28) and x.dtype == torch.uint8
    assert (tmp_path / "cache" / "fashion_mnist_uint8.pt").is_file()
    assert torch.equal(fmnist.fashion_mnist_uint8()[3], yt)


def test_no_source_without_download_says_how_to_get_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(fmnist, "DATA_DIR", tmp_path)
    monkeypatch.setattr(fmnist, "DEBIAN_FMNIST_DIR", tmp_path / "none")
    monkeypatch.delenv("PNN_FMNIST_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="not found.*download=True"):
        fmnist.fashion_mnist_uint8()


def test_iris_split_is_stratified_deterministic_and_encoded() -> None:
    a, b = data.load_dataset("iris", seed=0), data.load_dataset("iris", seed=0)
    c = data.load_dataset("iris", seed=1)
    assert a.train_t.shape == (100, 5) and a.test_t.shape == (50, 5) and a.n_classes == 3
    assert torch.equal(a.test_t, b.test_t) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.test_t, c.test_t)
    assert sorted(torch.bincount(a.test_y).tolist()) == [16, 17, 17]
    assert sorted(torch.bincount(a.train_y).tolist()) == [33, 33, 34]
    everything = torch.cat([a.train_t, a.test_t])
    assert torch.all(everything[:, 4] == 0.0)  # bias spike at t = 0
    assert torch.allclose(everything[:, :4].amin(0), torch.zeros(4))  # t = x, min-max scaled
    assert torch.allclose(everything[:, :4].amax(0), torch.ones(4))


def test_unknown_dataset_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        data.load_dataset("mnist")


def test_registry_accepts_a_new_loader(monkeypatch) -> None:
    monkeypatch.setattr(data, "DATASETS", dict(data.DATASETS))

    @data.register_dataset("toy")
    def toy(root, download, seed):
        t = torch.rand(20, 3)
        y = torch.arange(20) % 2
        return data.SpikeData("toy", t, y, t[:10], y[:10], 2)

    d = data.load_dataset("toy", train_subset=4)
    assert d.input_shape == (3,) and torch.equal(torch.bincount(d.train_y), torch.tensor([2, 2]))
