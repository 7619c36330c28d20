r"""G networks of one architecture run as one stacked network: :class:`GroupNetwork`.

The member networks (:class:`~pnnlib.nn.networks.SpikeNetwork`, e.g. one per training run) keep
their own parameters, specs (E±, E_dis, σ_spike, offset mode) and generators; a
:class:`GroupNetwork` only *runs* them together, reading the members' weights on every call (one
stack per layer), so gradients land in each member's own parameters and each member can be
optimised, checkpointed and evaluated on its own. Per layer and run, it computes what the member
computes alone, with the same draws from the member's generator (:mod:`pnnlib.core.dstd_group`):
the DSTD offset of the run's grid (Algorithms 3–4) and the spike-time noise
:math:`t+\sigma\,\mathcal N(0,1)` of the run's outputs (paper-spec §3.3), in the same order.

Layouts of the stacked spike times: ``[G, B, N]`` for dense layers, ``[B, G·C, H, W]`` for conv
layers and pooling (runs side by side on the channel axis; a grouped convolution then keeps them
apart). Training and evaluation DSTD settings follow each member's ``training`` flag; exact mode
is not stacked (train such runs alone).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pnnlib.core import dstd_group
from pnnlib.core.dstd_group import run_constant
from pnnlib.core.neuron import rcspike_fire_time
from pnnlib.nn.layers import RCSpikeConv2d, RCSpikeLinear, SpikeMinPool2d, SpikingLayer, TTFSConv2d, TTFSLinear
from pnnlib.nn.networks import SpikeNetwork

__all__ = ["GroupNetwork", "GroupSpikingLayer"]


def _split(t: torch.Tensor, conv: bool, g: int) -> list[torch.Tensor]:
    """Run views of a stacked tensor (layouts of the module docstring)."""
    if conv:
        return list(t.unflatten(1, (g, -1)).unbind(1))
    return list(t.unbind(0))


def _stack(ts: Sequence[torch.Tensor], conv: bool) -> torch.Tensor:
    """Inverse of :func:`_split`."""
    return torch.stack(list(ts), 1).flatten(1, 2) if conv else torch.stack(list(ts), 0)


class GroupSpikingLayer(nn.Module):
    """The layer at one position of every member network, run as one stacked layer."""

    def __init__(self, members: Sequence[SpikingLayer]) -> None:
        super().__init__()
        kinds = {type(m) for m in members}
        if len(kinds) != 1:
            raise ValueError(f"a group layer needs one layer type, got {sorted(k.__name__ for k in kinds)}")
        self.kind = kinds.pop()
        self.conv = issubclass(self.kind, (RCSpikeConv2d, TTFSConv2d))
        shapes = {tuple(m.weight.shape) for m in members}
        if len(shapes) != 1:
            raise ValueError(f"the members' weights differ in shape: {sorted(shapes)}")
        if self.conv and len({(m.stride, m.padding) for m in members}) != 1:
            raise ValueError("the members' conv layers differ in stride or padding")
        if self.kind in (TTFSLinear, TTFSConv2d) and len({(m.t_max, m.v_th) for m in members}) != 1:
            raise ValueError("the members' TTFS layers differ in t_max or v_th")
        if any(m.exact for m in members):
            raise ValueError("exact mode is not run as a group; train exact runs alone")
        if len({m.kernel for m in members}) != 1:
            raise ValueError("the members' layers differ in their DSTD kernel")
        self.members = list(members)  # plain list: the members' parameters belong to their networks

    def members_view(self, t: torch.Tensor) -> list[torch.Tensor]:
        """Each member's part of a stacked tensor in this layer's layout."""
        return _split(t, self.conv, len(self.members))

    def forward(self, t_in: torch.Tensor) -> torch.Tensor:
        ms = self.members
        args = [m.grid_args() for m in ms]
        if len({steps for steps, _ in args}) != 1:
            raise ValueError(f"the members' DSTD steps M differ: {sorted({steps for steps, _ in args})}")
        steps, offsets = args[0][0], [o for _, o in args]
        weight = torch.stack([m.weight for m in ms])
        common = (t_in, weight, [m.e_pos for m in ms], [m.e_neg for m in ms], steps, offsets, [m.generator for m in ms])
        conv = dict(stride=ms[0].stride, padding=ms[0].padding) if self.conv else {}
        if self.kind is RCSpikeLinear:
            t = self._readout(dstd_group.rcspike_dstd_group(*common, kernel=ms[0].kernel))
        elif self.kind is RCSpikeConv2d:
            t = self._readout(dstd_group.rcspike_dstd_conv2d_group(*common, **conv, kernel=ms[0].kernel))
        elif self.kind is TTFSLinear:
            t = dstd_group.ttfs_dstd_group(*common, ms[0].t_max, ms[0].v_th)
        else:
            t = dstd_group.ttfs_dstd_conv2d_group(*common, ms[0].t_max, ms[0].v_th, **conv)
        return self._noise(t)

    def _readout(self, v: torch.Tensor) -> torch.Tensor:
        """The firing-phase readout of each member (its E_dis, §1.4/§1.7)."""
        e_dis = [m.e_dis for m in self.members]
        if len(set(e_dis)) == 1:
            return rcspike_fire_time(v, e_dis[0])
        return _stack([rcspike_fire_time(vg, e) for vg, e in zip(self.members_view(v), e_dis)], self.conv)

    def _noise(self, t: torch.Tensor) -> torch.Tensor:
        """Each member's spike-time noise σ, drawn from its generator as :meth:`SpikingLayer.add_noise` does."""
        ms = self.members
        if all(m.sigma == 0.0 for m in ms):
            return t
        noise = [
            torch.randn(v.shape, dtype=t.dtype, device=t.device, generator=m.generator)
            if m.sigma
            else torch.zeros(v.shape, dtype=t.dtype, device=t.device)
            for m, v in zip(ms, self.members_view(t))
        ]
        run_axis = 1 if self.conv else 0
        shape = [1] * (noise[0].dim() + 1)
        shape[run_axis] = len(ms)
        sigma = run_constant([m.sigma for m in ms], t).view(shape)
        return t + (torch.stack(noise, run_axis) * sigma).view_as(t)


class _GroupFlatten(nn.Module):
    """``[B, G·C, H, W]`` → ``[G, B, C·H·W]`` (each member's ``nn.Flatten``)."""

    def __init__(self, g: int) -> None:
        super().__init__()
        self.g = g

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return t.unflatten(1, (self.g, -1)).flatten(2).transpose(0, 1)


class GroupNetwork(nn.Module):
    """G member networks of one architecture, run as one (see the module docstring).

    ``forward(x)`` takes the stacked inputs (:meth:`stack_inputs`) and returns the stacked output
    spike times ``[G, B, N_out]``; :meth:`forward_pairs` also returns every spiking layer's input
    and output (for the cost's penalties).
    """

    def __init__(self, nets: Sequence[SpikeNetwork]) -> None:
        super().__init__()
        if not nets:
            raise ValueError("a group needs at least one network")
        if len({len(n.layers) for n in nets}) != 1:
            raise ValueError("the member networks differ in their number of layers")
        self.nets = nn.ModuleList(nets)
        g = len(nets)
        self.stages: list[nn.Module] = []
        for members in zip(*(n.layers for n in nets)):
            first = members[0]
            if isinstance(first, SpikingLayer):
                self.stages.append(GroupSpikingLayer(members))
            elif isinstance(first, SpikeMinPool2d):
                if len({(m.kernel_size, m.stride) for m in members}) != 1:
                    raise ValueError("the members' pooling layers differ")
                self.stages.append(first)  # acts per channel: the stacked layout is a wider image
            elif isinstance(first, nn.Flatten):
                self.stages.append(_GroupFlatten(g))
            else:
                raise ValueError(f"no group form for layer {type(first).__name__}")
        first = self.stages[0]
        self.conv_input = isinstance(first, GroupSpikingLayer) and first.conv

    @property
    def size(self) -> int:
        """G, the number of member networks."""
        return len(self.nets)

    def stack_inputs(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        """The members' input batches (each ``[B, ...]`` as the member takes it) in the stacked layout."""
        return _stack(xs, self.conv_input)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x)
        return x

    def forward_pairs(self, x: torch.Tensor) -> list[tuple[GroupSpikingLayer, torch.Tensor, torch.Tensor]]:
        """(group layer, stacked input times, stacked output times) of every spiking layer."""
        pairs = []
        for stage in self.stages:
            out = stage(x)
            if isinstance(stage, GroupSpikingLayer):
                pairs.append((stage, x, out))
            x = out
        return pairs
