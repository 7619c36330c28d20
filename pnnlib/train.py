r"""Training engine: cost function, evaluation, checkpointed training loop, command line.

Cost (paper-spec §3.1, Eqs. 49–53, plus the circuit penalties of Table 2)

.. math::

    C = \mathrm{Loss} + \gamma_1\,\mathrm{Temp} + \gamma_2\,Q + \gamma_W P + \gamma_V V,

all averaged over the mini-batch:

* :math:`\mathrm{Loss}=-\sum_i\kappa_i\ln S_i`, :math:`S_i=\mathrm{softmax}(-t^{(L)}/\tau_{soft})_i`
  (earliest spike wins, [inferred] sign) — :func:`classification_loss`;
* :math:`\mathrm{Temp}=\sum_i(t^{(L)}_i-t_{ref})^2` over all output neurons — :func:`temporal_penalty`;
* :math:`Q` (TTFS layers only): **our sign** is
  :math:`Q=-\sum_l\sum_i\sum_{j\in\Gamma^{(l)}_i}w^{(l)}_{ij}`, Γ = inputs that arrive before
  neuron i fires (all inputs that arrive if it never fires), so that minimising γ₂Q *raises* the
  causal input weight and "promotes firing", as the paper says (paper-spec §3.1 / §8 item 4) —
  :func:`q_penalty`;
* :math:`P=\sum_l\lVert W^{(l)}\rVert^2` — :func:`weight_penalty`;
* :math:`V=\sum_l\sum_i(t^{(l)}_i-1)^2` over hidden and output layers (pushes spikes late,
  Table 2) — :func:`early_spike_penalty`.

Non-firing outputs (TTFS, ``t = +inf``) enter every term as the last layer's window end
``t_max`` (1 for RC-Spike, ``t_max`` of a TTFS layer), i.e. as the latest possible spike.

Spike-time noise σ is added to every layer's output spikes in training **and** evaluation (the
layers' ``sigma``, paper-spec §3.3; the network input is not perturbed). Training uses the
layers' DSTD setting (``steps`` = M, a fresh random offset per layer per mini-batch by default);
evaluation uses ``eval_steps`` / ``eval_offset`` (paper Appendix E: M = 30 for RC-Spike, 60 for
TTFS) and is repeated ``n_eval`` times with fresh offsets and noise (mean ± std reported).

Entry points: :func:`train` (``config, out_dir -> metrics``) and
``python -m pnnlib.train --config run.yaml --out results/run``. A run directory holds
``config.yaml``, ``checkpoint.pt`` (model, optimizer, RNG states, epoch; written after every
epoch), ``metrics.json``, and at the end ``weights.pt`` and ``spike_hist.npz``. Restarting with
the same config (``epochs`` may grow) resumes from the checkpoint and ends with exactly the
metrics of an uninterrupted run on the same device; a different config is an error.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import nn
from tqdm.auto import tqdm

from pnnlib import data as data_mod
from pnnlib import networks
from pnnlib.layers import SpikingLayer, TTFSConv2d, TTFSLinear

__all__ = [
    "MODELS",
    "TrainConfig",
    "build_model",
    "classification_loss",
    "cost",
    "early_spike_penalty",
    "evaluate",
    "eval_rng",
    "load_model",
    "load_yaml",
    "predict",
    "q_penalty",
    "resolve_device",
    "spike_histograms",
    "temporal_penalty",
    "train",
    "weight_penalty",
]

log = logging.getLogger("pnnlib.train")

MODELS = ("mlp", "vgg7", "ttfs_cnn", "iris_net")
"""Model names accepted by :class:`TrainConfig` (constructors in :mod:`pnnlib.networks`)."""

RESUMABLE_KEYS = frozenset({"epochs", "num_threads", "progress"})
"""Config keys that may differ when a run directory is reused (they do not change the result of
the epochs already done)."""


# --------------------------------------------------------------------------- configuration


@dataclass
class TrainConfig:
    """All settings of one training run (defaults: the paper's RC-Spike MLP on Fashion-MNIST,
    paper-spec §3.2–§3.3).

    Model and data:
        model: one of :data:`MODELS`. hidden: MLP hidden sizes. width: VGG7 width factor.
        n_outputs: output neurons (``None`` = number of classes; the Iris circuit uses 5).
        extra_outputs: outputs beyond the classes: ``"include"`` = in the softmax as classes that
            are never the target (pushed late), ``"exclude"`` = left out of the softmax (only the
            penalties act on them). Prediction always picks the earliest *class* output.
        dataset: a key of :data:`pnnlib.data.DATASETS`. data_dir: raw-data folder (``None`` =
            search, see :mod:`pnnlib.data`). download: allow a dataset download.
        train_subset, test_subset: stratified subset sizes (``None`` = all).

    Neuron and DSTD:
        e_pos, e_neg: reversal potentials E⁺, E⁻ (``e_neg=None`` = −E⁺). e_dis: discharge
        non-ideality of the firing phase (RC-Spike, ``None`` = ideal ramp).
        steps, offset: training M and offset mode (``"random"``: fresh per layer per batch).
        eval_steps, eval_offset, n_eval: evaluation M, offset mode and repeats.
        sigma: spike-time noise std σ_spike. exact: exact solvers instead of DSTD.
        init_gain: RC-Spike init gain (Var w = gain²/fan_in, :func:`pnnlib.layers.uniform_init_`).
            [open] The paper gives no RC-Spike initialisation (paper-spec §3.4); 0.5 trains at
            every |E| in [1, 100], while gain ≥ 1 stalls at large |E| (hard-clipped early spikes,
            t = 0, pass no gradient): after one epoch on 10k images (lr 1e-4, M = 10) gain
            0.25 / 0.5 / 1 reached 80 / 79 / 33 % at |E| = 100, 79 / 82 / 64 % at |E| = 4 and
            76 / 76 / – % at |E| = 1. t_max: TTFS window end.

    Optimisation (Adam): lr, batch, epochs; gamma1 (Temp), t_ref, tau_soft, gamma2 (Q),
        gamma_w (weight L2), gamma_v (early-spike penalty).

    Run: seed, device (``"auto"`` = CUDA if available), num_threads (CPU threads, ``None`` =
        torch's default), eval_every (test evaluation every k epochs, 0 = only at the end),
        eval_batch, hist_samples (test samples in the spike-time histograms), progress (tqdm).
    """

    model: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [400, 400])
    width: float = 1.0
    n_outputs: int | None = None
    extra_outputs: str = "include"
    dataset: str = "fashion_mnist"
    data_dir: str | None = None
    download: bool = False
    train_subset: int | None = None
    test_subset: int | None = None
    e_pos: float = 4.0
    e_neg: float | None = None
    e_dis: float | None = None
    steps: int = 10
    offset: str = "random"
    eval_steps: int = 30
    eval_offset: str = "random"
    n_eval: int = 5
    sigma: float = 0.01
    exact: bool = False
    init_gain: float = 0.5
    t_max: float = 4.0
    lr: float = 1e-4
    batch: int = 32
    epochs: int = 50
    gamma1: float = 2.6
    t_ref: float = 0.9
    tau_soft: float = 0.07
    gamma2: float = 0.0
    gamma_w: float = 0.0
    gamma_v: float = 0.0
    seed: int = 0
    device: str = "auto"
    num_threads: int | None = None
    eval_every: int = 1
    eval_batch: int | None = None
    hist_samples: int = 2000
    progress: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad key."""

        def bad(key: str, why: str) -> None:
            raise ValueError(f"TrainConfig.{key}: {why}, got {getattr(self, key)!r}")

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        if self.model not in MODELS:
            bad("model", f"unknown model (known: {list(MODELS)})")
        if self.dataset not in data_mod.DATASETS:
            bad("dataset", f"unknown dataset (known: {sorted(data_mod.DATASETS)})")
        if not (isinstance(self.hidden, list) and self.hidden and all(is_int(h) and h > 0 for h in self.hidden)):
            bad("hidden", "must be a non-empty list of positive ints")
        for key in ("steps", "eval_steps", "n_eval", "batch", "epochs", "hist_samples"):
            v = getattr(self, key)
            if not is_int(v) or v < 1:
                bad(key, "must be an int >= 1")
        for key in ("train_subset", "test_subset", "n_outputs", "num_threads", "eval_batch"):
            v = getattr(self, key)
            if v is not None and (not is_int(v) or v < 1):
                bad(key, "must be None or an int >= 1")
        if not is_int(self.seed) or self.seed < 0:
            bad("seed", "must be an int >= 0")
        if not is_int(self.eval_every) or self.eval_every < 0:
            bad("eval_every", "must be an int >= 0")
        for key in ("offset", "eval_offset"):
            if getattr(self, key) not in ("random", "fixed"):
                bad(key, "must be 'random' or 'fixed'")
        if self.extra_outputs not in ("include", "exclude"):
            bad("extra_outputs", "must be 'include' or 'exclude'")
        for key in ("lr", "tau_soft", "width", "init_gain", "t_max"):
            if not _finite_number(getattr(self, key)) or getattr(self, key) <= 0:
                bad(key, "must be a finite number > 0")
        for key in ("sigma", "gamma1", "gamma2", "gamma_w", "gamma_v"):
            if not _finite_number(getattr(self, key)) or getattr(self, key) < 0:
                bad(key, "must be a finite number >= 0")
        if not _finite_number(self.t_ref):
            bad("t_ref", "must be a finite number")
        if not (isinstance(self.e_pos, (int, float)) and self.e_pos > 0):
            bad("e_pos", "must be > 0 (math.inf = ideal)")
        if self.e_neg is not None and not (isinstance(self.e_neg, (int, float)) and self.e_neg < 0):
            bad("e_neg", "must be None or < 0")
        if self.e_dis is not None and not (_finite_number(self.e_dis) and self.e_dis > 1):
            bad("e_dis", "must be None or > 1")
        if self.device != "auto" and not self.device.startswith(("cpu", "cuda")):
            bad("device", "must be 'auto', 'cpu' or 'cuda[:k]'")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a mapping; an unknown key is a ``ValueError`` naming it."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"TrainConfig: unknown key(s) {unknown}")
        return cls(**d)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """Load a YAML mapping of config keys (missing keys take the defaults)."""
        d = load_yaml(Path(path).read_text()) or {}
        if not isinstance(d, dict):
            raise ValueError(f"TrainConfig: {path} must hold a mapping of keys, got {type(d).__name__}")
        return cls.from_dict(d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        """A validated copy with some keys changed (unknown keys are a ``ValueError``)."""
        return TrainConfig.from_dict({**self.to_dict(), **changes})


class _YamlLoader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; this loader reads it as a float."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str) -> Any:
    """Parse YAML with :class:`_YamlLoader` (config files and ``--set`` values)."""
    return yaml.load(text, Loader=_YamlLoader)


def _finite_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# --------------------------------------------------------------------------- models


def build_model(cfg: TrainConfig, input_shape: Sequence[int], n_classes: int) -> networks.SpikeNetwork:
    """The network of ``cfg.model`` for inputs of ``input_shape`` (one sample)."""
    n_out = cfg.n_outputs or n_classes
    if n_out < n_classes:
        raise ValueError(f"TrainConfig.n_outputs: {n_out} outputs cannot hold {n_classes} classes")
    neuron: dict[str, Any] = dict(
        e_neg=cfg.e_neg, steps=cfg.steps, offset=cfg.offset, sigma=cfg.sigma, exact=cfg.exact,
        eval_steps=cfg.eval_steps, eval_offset=cfg.eval_offset,
    )
    if cfg.model == "ttfs_cnn":
        c, h, _ = input_shape
        return networks.ttfs_cnn(c, n_out, h, e_pos=cfg.e_pos, t_ref=cfg.t_ref, t_max=cfg.t_max, **neuron)
    neuron.update(e_pos=cfg.e_pos, e_dis=cfg.e_dis, init_gain=cfg.init_gain)
    if cfg.model == "mlp":
        return networks.mlp((int(np.prod(input_shape)), *cfg.hidden, n_out), **neuron)
    if cfg.model == "iris_net":
        return networks.iris_net(outputs=n_out, **neuron)
    c, h, _ = input_shape
    return networks.vgg7(c, n_out, h, cfg.width, **neuron)


def _flat_input(cfg: TrainConfig) -> bool:
    return cfg.model in ("mlp", "iris_net")


def _eval_batch(cfg: TrainConfig, device: torch.device) -> int:
    if cfg.eval_batch is not None:
        return cfg.eval_batch
    return 1000 if device.type == "cuda" else 100


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU (logged as a warning, since the ``paper`` profile's
    CNN runs are GPU jobs); ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a :class:`torch.device` as given.

    Raises:
        ValueError: CUDA requested but torch sees no CUDA device.
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        log.warning("device 'auto': no CUDA device visible, training on the CPU (slow for the paper's CNNs)")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but torch sees no CUDA device "
                         f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); use device: auto or cpu")
    return dev


# --------------------------------------------------------------------------- cost


def _finite_times(t: torch.Tensor, t_max: float) -> torch.Tensor:
    """Non-firing (``+inf``) → ``t_max``, the latest representable spike."""
    return torch.where(torch.isinf(t), torch.full_like(t, t_max), t)


def _last_t_max(model: nn.Module) -> float:
    layers = [m for m in model.modules() if isinstance(m, SpikingLayer)]
    return float(getattr(layers[-1], "t_max", 1.0)) if layers else 1.0


def classification_loss(
    t_out: torch.Tensor,
    labels: torch.Tensor,
    tau_soft: float,
    n_classes: int | None = None,
    extra_outputs: str = "include",
) -> torch.Tensor:
    r"""Softmax cross-entropy on :math:`-t/\tau_{soft}` (paper Eq. 50), mean over the batch.

    ``t_out`` ``[B, N_out]`` must be finite (see :func:`cost`). With ``extra_outputs="exclude"``
    only the first ``n_classes`` outputs enter the softmax.
    """
    logits = -t_out / tau_soft
    if extra_outputs == "exclude" and n_classes is not None:
        logits = logits[:, :n_classes]
    return F.cross_entropy(logits, labels)


def temporal_penalty(t_out: torch.Tensor, t_ref: float) -> torch.Tensor:
    r""":math:`\mathrm{Temp}=\sum_i (t^{(L)}_i-t_{ref})^2` over output neurons, mean over the batch."""
    return ((t_out - t_ref) ** 2).sum(1).mean()


def early_spike_penalty(times: Sequence[torch.Tensor]) -> torch.Tensor:
    r""":math:`V=\sum_l\sum_i (t^{(l)}_i-1)^2` over the given layers' spikes, mean over the batch
    (Table 2; pushes spikes late)."""
    return sum(((t - 1.0) ** 2).flatten(1).sum(1).mean() for t in times)


def weight_penalty(model: nn.Module) -> torch.Tensor:
    r""":math:`P=\sum_l\lVert W^{(l)}\rVert^2` (Table 2)."""
    return sum((layer.weight**2).sum() for layer in model.modules() if isinstance(layer, SpikingLayer))


def _causal_counts(layer: SpikingLayer, t_in: torch.Tensor, t_out: torch.Tensor) -> torch.Tensor:
    """Σ_b 1[t_j < t_i] per weight (same shape as ``layer.weight``); Γ of paper Eq. 53."""
    with torch.no_grad():
        if t_in.dim() == 2:
            return (t_in.unsqueeze(1) < t_out.unsqueeze(2)).sum(0).to(layer.weight.dtype)
        kh, kw = layer.weight.shape[2:]
        pad = layer.padding
        tp = F.pad(t_in, (pad, pad, pad, pad), value=math.inf)
        ho, wo = t_out.shape[2:]
        s = layer.stride
        counts = torch.zeros_like(layer.weight)
        for a in range(kh):
            for b in range(kw):
                win = tp[:, :, a : a + s * (ho - 1) + 1 : s, b : b + s * (wo - 1) + 1 : s]  # [B, C_in, H', W']
                counts[:, :, a, b] = (win.unsqueeze(1) < t_out.unsqueeze(2)).sum((0, 3, 4)).to(counts.dtype)
        return counts


def q_penalty(pairs: Sequence[tuple[SpikingLayer, torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    r""":math:`Q=-\frac{1}{B}\sum_b\sum_l\sum_i\sum_{j\in\Gamma_i}w_{ij}` over TTFS layers
    (our sign, see the module docstring); ``pairs`` = (layer, input times, output times).

    The causal sets are indicators (no gradient); the gradient flows through the weights.
    """
    total = torch.zeros(())
    for layer, t_in, t_out in pairs:
        if isinstance(layer, (TTFSLinear, TTFSConv2d)):
            counts = _causal_counts(layer, t_in, t_out)
            total = total.to(layer.weight.device) - (layer.weight * counts).sum() / t_in.shape[0]
    return total


def _forward_pairs(
    model: networks.SpikeNetwork, x: torch.Tensor
) -> list[tuple[SpikingLayer, torch.Tensor, torch.Tensor]]:
    """Run the network, keeping (layer, input times, output times) of every spiking layer."""
    pairs = []
    t = x
    for layer in model.layers:
        out = layer(t)
        if isinstance(layer, SpikingLayer):
            pairs.append((layer, t, out))
        t = out
    return pairs


def cost(
    model: networks.SpikeNetwork,
    x: torch.Tensor,
    labels: torch.Tensor,
    cfg: TrainConfig,
    n_classes: int,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    """Forward pass and the full cost of :mod:`pnnlib.train` for one batch.

    Returns ``(C, finite output times [B, N_out], {term: detached weighted value})`` with the
    terms ``loss``, ``temp``, ``q``, ``w``, ``v`` (those with a nonzero weight).
    """
    pairs = _forward_pairs(model, x)
    t_max = _last_t_max(model)
    t_out = _finite_times(pairs[-1][2], t_max)
    loss = classification_loss(t_out, labels, cfg.tau_soft, n_classes, cfg.extra_outputs)
    terms = {"loss": loss}
    if cfg.gamma1:
        terms["temp"] = cfg.gamma1 * temporal_penalty(t_out, cfg.t_ref)
    if cfg.gamma2:
        terms["q"] = cfg.gamma2 * q_penalty(pairs)
    if cfg.gamma_w:
        terms["w"] = cfg.gamma_w * weight_penalty(model)
    if cfg.gamma_v:
        terms["v"] = cfg.gamma_v * early_spike_penalty([_finite_times(p[2], t_max) for p in pairs])
    total = sum(terms.values())
    return total, t_out, {k: v.detach() for k, v in terms.items()}


def predict(t_out: torch.Tensor, n_classes: int) -> torch.Tensor:
    """The earliest spike among the class outputs (paper-spec §1.6)."""
    return t_out[:, :n_classes].argmin(1)


# --------------------------------------------------------------------------- evaluation


def derived_seed(seed: int, name: str) -> int:
    """A 63-bit seed from a run's seed and a name, the same in every process and on every machine."""
    digest = hashlib.sha256(f"{int(seed)}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


@contextlib.contextmanager
def eval_rng(seed: int, name: str, device: torch.device | str = "cpu") -> Iterator[None]:
    """Draw the DSTD offsets and spike noise of an evaluation from a generator seeded by
    ``(seed, name)``; the global RNG state is restored on exit.

    So an evaluation gives the same numbers however often, and in whatever order, it runs, and
    evaluating during training does not change the training's own random draws.
    """
    dev = torch.device(device)
    devices = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(derived_seed(seed, name))
        yield


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

    Returns ``{"acc": mean, "acc_std", "accs": [...], "loss": mean, "loss_std"}`` (accuracy as a
    fraction; std with ``ddof=0``, 0 for a single evaluation).
    """
    with eval_rng(cfg.seed, key, t.device):
        return _evaluate(model, t, y, cfg, n_classes, n_eval)


def _evaluate(model: networks.SpikeNetwork, t: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, n_classes: int,
              n_eval: int) -> dict[str, Any]:
    was_training = model.training
    model.eval()
    batch = _eval_batch(cfg, t.device)
    accs, losses = [], []
    for _ in range(n_eval):
        correct, loss_sum = 0, 0.0
        for i in range(0, len(y), batch):
            xb, yb = t[i : i + batch], y[i : i + batch]
            c, t_out, _ = cost(model, xb.flatten(1) if _flat_input(cfg) else xb, yb, cfg, n_classes)
            loss_sum += float(c) * len(yb)
            correct += int((predict(t_out, n_classes) == yb).sum())
        accs.append(correct / len(y))
        losses.append(loss_sum / len(y))
    model.train(was_training)
    return {
        "acc": float(np.mean(accs)), "acc_std": float(np.std(accs)), "accs": accs,
        "loss": float(np.mean(losses)), "loss_std": float(np.std(losses)),
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
        t_max = _last_t_max(model)
        edges = np.linspace(-0.05, t_max + 0.05, round(100 * t_max) + 11)
    was_training = model.training
    model.eval()
    out: dict[str, np.ndarray] = {"edges": edges}
    for i in range(0, len(t), batch):
        for k, tk in enumerate(model.forward_all(t[i : i + batch]), 1):
            v = tk.flatten().double().cpu().numpy()
            counts, _ = np.histogram(v, edges)
            for key, val in ((f"layer{k}", counts), (f"below{k}", np.array(int((v < edges[0]).sum()))),
                             (f"above{k}", np.array(int((v > edges[-1]).sum())))):
                out[key] = out[key] + val if key in out else val
    model.train(was_training)
    return out


# --------------------------------------------------------------------------- run directory


def _atomic_write_bytes(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def _write_json(path: Path, obj: Any) -> None:
    _atomic_write_bytes(path, lambda p: p.write_text(json.dumps(obj, indent=1)))


def _torch_save(path: Path, obj: Any) -> None:
    _atomic_write_bytes(path, lambda p: torch.save(obj, p))


def git_revision() -> str:
    """``git describe``-style revision of the project checkout (``-dirty`` if modified)."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=data_mod.PROJECT_ROOT,
            capture_output=True, text=True, timeout=10, check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _check_same_config(out_dir: Path, cfg: TrainConfig) -> None:
    path = out_dir / "config.yaml"
    if not path.is_file():
        return
    old = load_yaml(path.read_text())
    new = cfg.to_dict()
    diff = sorted(k for k in set(old) | set(new) if k not in RESUMABLE_KEYS and old.get(k) != new.get(k))
    if diff:
        details = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff)
        raise ValueError(
            f"{out_dir} holds a run with a different config ({details}); use another out_dir or "
            "delete the old run"
        )


def _rng_state(gen: torch.Generator) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "shuffle": gen.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    gen.set_state(state["shuffle"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- training


def train(config: TrainConfig | dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Train one network and write the run directory (see the module docstring).

    Returns the metrics dict also written to ``metrics.json``: ``config``, ``seed``,
    ``git_revision``, ``device``, ``history`` (per epoch: ``train_loss``, ``train_acc``,
    ``test_loss``, ``test_acc`` (one evaluation; ``None`` when skipped by ``eval_every``),
    ``wall_s``), ``final`` (``n_eval`` evaluations: ``acc``, ``acc_std``, ``accs``, ``loss``,
    ``loss_std``, ``eval_steps``, ``eval_offset``) and ``status`` (``"done"``). A finished run
    is not recomputed.
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_same_config(out, cfg)
    _atomic_write_bytes(out / "config.yaml", lambda p: p.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False)))
    metrics_path = out / "metrics.json"
    if metrics_path.is_file():
        done = json.loads(metrics_path.read_text())
        if done.get("status") == "done" and len(done["history"]) == cfg.epochs:
            log.info("%s: finished run found, not recomputed", out)
            return done

    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    device = resolve_device(cfg.device)
    log.info("training %s on %s (device %s), out_dir %s", cfg.model, cfg.dataset, device, out)

    data = data_mod.load_dataset(
        cfg.dataset, train_subset=cfg.train_subset, test_subset=cfg.test_subset, seed=cfg.seed,
        root=cfg.data_dir, download=cfg.download,
    )
    train_t, train_y = data.train_t.to(device), data.train_y.to(device)
    test_t, test_y = data.test_t.to(device), data.test_y.to(device)
    n_classes = data.n_classes

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    model = build_model(cfg, data.input_shape, n_classes).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history: list[dict[str, Any]] = []
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.is_file():
        # CPU first: RNG states must stay CPU tensors; load_state_dict moves the rest to the device.
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        _set_rng_state(ck["rng"], gen)
        history = ck["history"]
        if len(history) > cfg.epochs:
            raise ValueError(f"TrainConfig.epochs: {out} already holds {len(history)} epochs, more than "
                             f"epochs={cfg.epochs}; use another out_dir")
        log.info("resumed from %s after epoch %d", ckpt_path, ck["epoch"])

    base = {
        "config": cfg.to_dict(), "seed": cfg.seed, "git_revision": git_revision(), "device": str(device),
        "torch_version": torch.__version__, "n_train": len(train_y), "n_test": len(test_y),
        "input_shape": list(data.input_shape), "n_classes": n_classes,
    }
    n = len(train_y)
    for epoch in range(len(history) + 1, cfg.epochs + 1):
        start = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=gen).to(device)
        # Running sums stay on the device (no host sync per step), in float64.
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        bar = tqdm(range(0, n, cfg.batch), desc=f"epoch {epoch}/{cfg.epochs}", disable=not cfg.progress,
                   mininterval=5.0, leave=False, file=sys.stderr)
        for step, i in enumerate(bar):
            idx = perm[i : i + cfg.batch]
            xb, yb = train_t[idx], train_y[idx]
            if data.augment is not None:
                xb = data.augment(xb, gen)
            c, t_out, _ = cost(model, xb.flatten(1) if _flat_input(cfg) else xb, yb, cfg, n_classes)
            opt.zero_grad(set_to_none=True)
            c.backward()
            opt.step()
            loss_sum += c.detach().double() * len(yb)
            correct += (predict(t_out.detach(), n_classes) == yb).sum()
            if cfg.progress and step % 50 == 49:
                bar.set_postfix(loss=f"{float(loss_sum) / min(i + cfg.batch, n):.3f}", refresh=False)
        bar.close()
        row: dict[str, Any] = {"epoch": epoch, "train_loss": float(loss_sum) / n, "train_acc": int(correct) / n,
                               "test_loss": None, "test_acc": None}
        if cfg.eval_every and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
            ev = evaluate(model, test_t, test_y, cfg, n_classes, key=f"epoch{epoch}")
            row.update(test_loss=ev["loss"], test_acc=ev["acc"])
        row["wall_s"] = time.perf_counter() - start
        history.append(row)
        _torch_save(ckpt_path, {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
                                "rng": _rng_state(gen), "history": history, "config": cfg.to_dict()})
        _write_json(metrics_path, {**base, "status": "running", "history": history})
        log.info("epoch %d/%d: train loss %.4f acc %.4f, test acc %s, %.1f s", epoch, cfg.epochs,
                 row["train_loss"], row["train_acc"],
                 "-" if row["test_acc"] is None else f"{row['test_acc']:.4f}", row["wall_s"])

    final = evaluate(model, test_t, test_y, cfg, n_classes, n_eval=cfg.n_eval, key="final")
    final.update(eval_steps=cfg.eval_steps, eval_offset=cfg.eval_offset)
    with eval_rng(cfg.seed, "spike_hist", device):
        hist = spike_histograms(model, test_t[: cfg.hist_samples].flatten(1) if _flat_input(cfg)
                                else test_t[: cfg.hist_samples], _eval_batch(cfg, device))
    _atomic_write_bytes(out / "spike_hist.npz", lambda p: np.savez(p.open("wb"), **hist))
    _torch_save(out / "weights.pt", model.state_dict())
    metrics = {**base, "status": "done", "history": history, "final": final}
    _write_json(metrics_path, metrics)
    log.info("final test accuracy %.4f ± %.4f (%d evaluations, M=%d, %s offset)", final["acc"],
             final["acc_std"], cfg.n_eval, cfg.eval_steps, cfg.eval_offset)
    return metrics


def load_model(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[networks.SpikeNetwork, TrainConfig]:
    """Rebuild a finished run's network with its final weights (``weights.pt``)."""
    run = Path(run_dir)
    cfg = TrainConfig.from_yaml(run / "config.yaml")
    meta = json.loads((run / "metrics.json").read_text())
    shape, n_classes = meta["input_shape"], meta["n_classes"]
    model = build_model(cfg, shape, n_classes)
    model.load_state_dict(torch.load(run / "weights.pt", map_location=device, weights_only=True))
    return model.to(device), cfg


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``python -m pnnlib.train --config run.yaml --out results/run [--set key=value ...]``."""
    p = argparse.ArgumentParser(prog="python -m pnnlib.train", description=__doc__.split("\n")[0])
    p.add_argument("--config", type=Path, help="YAML file of TrainConfig keys (defaults: the paper's MLP)")
    p.add_argument("--out", type=Path, required=True, help="run directory (resumed if it exists)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override config keys (values parsed as YAML)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    d = load_yaml(args.config.read_text()) if args.config else {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--set expects KEY=VALUE, got {item!r}")
        d[key] = load_yaml(value)
    return train(TrainConfig.from_dict(d or {}), args.out)


if __name__ == "__main__":
    main()
