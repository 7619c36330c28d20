"""From a :class:`~pnnlib.train.config.TrainConfig` to a network on a device."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from pnnlib.nn import networks
from pnnlib.train.config import TrainConfig

__all__ = ["build_model", "flat_input", "resolve_device"]

log = logging.getLogger("pnnlib.train")


def build_model(
    cfg: TrainConfig, input_shape: Sequence[int], n_classes: int, init_generator: torch.Generator | None = None
) -> networks.SpikeNetwork:
    """The network of ``cfg.model`` for inputs of ``input_shape`` (one sample); every layer shares
    ``cfg.neuron_spec()``; initial weights drawn from ``init_generator`` (``None``: torch's default)."""
    n_out = cfg.n_outputs or n_classes
    if n_out < n_classes:
        raise ValueError(f"TrainConfig.n_outputs: {n_out} outputs cannot hold {n_classes} classes")
    spec = cfg.neuron_spec()
    if cfg.model == "ttfs_cnn":
        c, h, _ = input_shape
        return networks.ttfs_cnn(c, n_out, h, spec, t_ref=cfg.t_ref, init_generator=init_generator)
    init = dict(init_gain=cfg.init_gain, init_generator=init_generator)
    if cfg.model == "mlp":
        return networks.mlp((int(np.prod(input_shape)), *cfg.hidden, n_out), spec, **init)
    if cfg.model == "iris_net":
        return networks.iris_net(outputs=n_out, spec=spec, **init)
    c, h, _ = input_shape
    return networks.vgg7(c, n_out, h, cfg.width, spec, **init)


def flat_input(cfg: TrainConfig) -> bool:
    """Whether the model takes flattened inputs (the MLPs) rather than images."""
    return cfg.model in ("mlp", "iris_net")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU (logged as a warning, since the ``paper`` profile's
    CNN runs are GPU jobs); ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a :class:`torch.device` as given.

    Raises:
        ValueError: CUDA requested but torch sees no CUDA device, or not one of that index.
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
        raise ValueError(
            f"device {device!r} requested but torch sees no CUDA device "
            f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); use device: auto or cpu"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(
            f"device {device!r} requested but torch sees {torch.cuda.device_count()} CUDA device(s) "
            f"(cuda:0 ... cuda:{torch.cuda.device_count() - 1}); use one of those, auto or cpu"
        )
    return dev
