"""Iris for the circuit experiment (paper-spec §1.6, §3.5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pnnlib.data.base import SpikeData, register_dataset

__all__ = ["IRIS_N_TEST", "iris"]

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
