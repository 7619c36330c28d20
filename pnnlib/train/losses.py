r"""The cost of paper Eqs. 49–53 and the circuit penalties of Table 2 (see :mod:`pnnlib.train`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pnnlib.nn import networks
from pnnlib.nn.layers import SpikingLayer, TTFSConv2d, TTFSLinear
from pnnlib.train.config import TrainConfig

__all__ = [
    "classification_loss",
    "cost",
    "early_spike_penalty",
    "last_t_max",
    "predict",
    "q_penalty",
    "temporal_penalty",
    "weight_penalty",
]


def _finite_times(t: torch.Tensor, t_max: float) -> torch.Tensor:
    """Non-firing (``+inf``) → ``t_max``, the latest representable spike."""
    return torch.where(torch.isinf(t), torch.full_like(t, t_max), t)


def last_t_max(model: nn.Module) -> float:
    """The last spiking layer's window end (:meth:`SpikingLayer.window_end`): ``t_max`` of a TTFS
    layer, 1 for RC-Spike (every layer carries a ``t_max``, the TTFS grid's end, but an RC-Spike
    readout clips at 1)."""
    layers = [m for m in model.modules() if isinstance(m, SpikingLayer)]
    return layers[-1].window_end() if layers else 1.0


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
    total = torch.zeros((), device=pairs[0][0].weight.device if pairs else None)  # no host-to-device copy
    for layer, t_in, t_out in pairs:
        if isinstance(layer, (TTFSLinear, TTFSConv2d)):
            counts = _causal_counts(layer, t_in, t_out)
            total = total - (layer.weight * counts).sum() / t_in.shape[0]
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
    t_max = last_t_max(model)
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
