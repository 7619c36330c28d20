"""Evaluation of a trained network: accuracy and loss over repeated DSTD draws, spike-time
histograms, all from generators seeded by the run's seed and the evaluation's name."""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from pnnlib.nn import networks
from pnnlib.train.config import TrainConfig
from pnnlib.train.losses import cost, last_t_max, predict
from pnnlib.train.models import flat_input

__all__ = ["SILENT_NOISE_STDS", "derived_seed", "eval_batch", "eval_rng", "evaluate", "spike_histograms"]


SILENT_NOISE_STDS = 4.0
"""An output is silent when its mean time is within this many standard errors of the mean
(σ_spike / √samples) of the window end: what a neuron that never fires shows under the noise."""


def eval_batch(cfg: TrainConfig, device: torch.device) -> int:
    """Evaluation batch size: ``cfg.eval_batch``, else 1000 on CUDA and 100 on the CPU."""
    if cfg.eval_batch is not None:
        return cfg.eval_batch
    return 1000 if device.type == "cuda" else 100


def derived_seed(seed: int, name: str) -> int:
    """A 63-bit seed from a run's seed and a name, the same in every process and on every machine."""
    digest = hashlib.sha256(f"{int(seed)}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


@contextlib.contextmanager
def eval_rng(model: networks.SpikeNetwork, seed: int, name: str) -> Iterator[torch.Generator]:
    """Draw the DSTD offsets and spike noise of ``model`` from a fresh generator on the model's
    device seeded by ``(seed, name)``; the layers' own generators are restored on exit.

    So an evaluation gives the same numbers however often, and in whatever order, it runs, and
    evaluating during training does not change the training's own random draws (nor the global
    RNG). The stream is the one ``torch.manual_seed(derived_seed(seed, name))`` gives torch's
    default generator of that device.
    """
    device = next(model.parameters()).device
    layers = list(model.spiking_layers())
    saved = [layer.generator for layer in layers]
    gen = torch.Generator(device=device).manual_seed(derived_seed(seed, name))
    model.set_generator(gen)
    try:
        yield gen
    finally:
        for layer, g in zip(layers, saved):
            layer.generator = g


@torch.no_grad()
def evaluate(
    model: networks.SpikeNetwork,
    t: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig,
    n_classes: int,
    n_eval: int = 1,
    key: str = "eval",
) -> dict[str, Any]:
    """Test loss (full cost) and accuracy in eval mode, repeated ``n_eval`` times (fresh DSTD
    offsets and noise each time, all drawn by :func:`eval_rng` from ``cfg.seed`` and ``key``:
    the same call gives the same numbers).

    Returns ``{"acc": mean, "acc_std", "accs": [...], "loss": mean, "loss_std", "class_acc",
    "mean_t_out", "silent_outputs"}`` (accuracy as a fraction; std with ``ddof=0``, 0 for a single
    evaluation). ``class_acc[k]``: accuracy on the samples of class k; ``mean_t_out[i]``: output
    neuron i's mean spike time; ``silent_outputs``: the outputs that never fire, i.e. whose time
    is the window end (1 for RC-Spike, whose readout clips there, paper-spec §1.4; ``t_max`` for
    TTFS) on every sample. The spike noise is added after the clip, so a silent output's times
    scatter around the window end with mean window end: it is silent when its mean lies within
    ``SILENT_NOISE_STDS`` standard errors of the window end (exactly at it for σ_spike = 0). A
    silent output's clipped time gives its weights no gradient and its class is (almost) never
    predicted; it revives only when changes of the layers below happen to lift its potential.
    All over the ``n_eval`` evaluations.
    """
    with eval_rng(model, cfg.seed, key):
        return _evaluate(model, t, y, cfg, n_classes, n_eval)


def _evaluate(
    model: networks.SpikeNetwork, t: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, n_classes: int, n_eval: int
) -> dict[str, Any]:
    was_training = model.training
    model.eval()
    batch = eval_batch(cfg, t.device)
    accs, losses = [], []
    class_hits = torch.zeros(n_classes, dtype=torch.float64)
    t_sum: torch.Tensor | None = None
    for _ in range(n_eval):
        correct, loss_sum = 0, 0.0
        for i in range(0, len(y), batch):
            xb, yb = t[i : i + batch], y[i : i + batch]
            c, t_out, _ = cost(model, xb.flatten(1) if flat_input(cfg) else xb, yb, cfg, n_classes)
            loss_sum += float(c) * len(yb)
            hit = predict(t_out, n_classes) == yb
            correct += int(hit.sum())
            class_hits += torch.bincount(yb[hit].cpu(), minlength=n_classes).double()
            batch_t = t_out.detach().sum(0).cpu().double()
            t_sum = batch_t if t_sum is None else t_sum + batch_t
        accs.append(correct / len(y))
        losses.append(loss_sum / len(y))
    model.train(was_training)
    per_class = torch.bincount(y.cpu(), minlength=n_classes).double() * n_eval
    mean_t = (t_sum / (len(y) * n_eval)).tolist() if t_sum is not None else []
    silent_above = last_t_max(model) - SILENT_NOISE_STDS * cfg.sigma / math.sqrt(max(len(y) * n_eval, 1))
    return {
        "acc": float(np.mean(accs)),
        "acc_std": float(np.std(accs)),
        "accs": accs,
        "loss": float(np.mean(losses)),
        "loss_std": float(np.std(losses)),
        "class_acc": (class_hits / per_class.clamp(min=1)).tolist(),
        "mean_t_out": mean_t,
        "silent_outputs": [i for i, t_mean in enumerate(mean_t) if t_mean >= silent_above],
    }


@torch.no_grad()
def spike_histograms(
    model: networks.SpikeNetwork,
    t: torch.Tensor,
    batch: int = 100,
    edges: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-layer histograms of output spike times in eval mode (paper Fig. 4d).

    ``edges`` default: 0.01-wide bins on [−0.05, t_max + 0.05] (t_max = 1 for RC-Spike; noise
    moves times slightly outside [0, t_max]); times outside the edges are counted in
    ``below{k}`` / ``above{k}`` (``+inf`` = above). Returns
    ``{"edges", "layer1", "below1", "above1", …}`` (layers numbered from 1).
    """
    if edges is None:
        t_max = last_t_max(model)
        edges = np.linspace(-0.05, t_max + 0.05, round(100 * t_max) + 11)
    was_training = model.training
    model.eval()
    out: dict[str, np.ndarray] = {"edges": edges}
    for i in range(0, len(t), batch):
        for k, tk in enumerate(model.forward_all(t[i : i + batch]), 1):
            v = tk.flatten().double().cpu().numpy()
            counts, _ = np.histogram(v, edges)
            for key, val in (
                (f"layer{k}", counts),
                (f"below{k}", np.array(int((v < edges[0]).sum()))),
                (f"above{k}", np.array(int((v > edges[-1]).sum()))),
            ):
                out[key] = out[key] + val if key in out else val
    model.train(was_training)
    return out
