"""Layers and networks: thin ``nn.Module`` wrappers over :mod:`pnnlib.core`.

* :class:`NeuronSpec` (:mod:`pnnlib.nn.spec`) — the neuron and DSTD settings of a layer, frozen
  and validated once;
* :mod:`pnnlib.nn.layers` — :class:`RCSpikeLinear`, :class:`RCSpikeConv2d`, :class:`TTFSLinear`,
  :class:`TTFSConv2d`, :class:`SpikeMinPool2d`;
* :mod:`pnnlib.nn.networks` — the paper's architectures: :func:`mlp`, :func:`vgg7`,
  :func:`ttfs_cnn`, :func:`iris_net`.
"""

from pnnlib.nn.layers import (
    RCSpikeConv2d,
    RCSpikeLinear,
    SpikeMinPool2d,
    SpikingLayer,
    TTFSConv2d,
    TTFSLinear,
)
from pnnlib.nn.networks import SpikeNetwork, iris_net, mlp, ttfs_cnn, vgg7
from pnnlib.nn.spec import NeuronSpec

__all__ = [
    "NeuronSpec",
    "RCSpikeConv2d",
    "RCSpikeLinear",
    "SpikeMinPool2d",
    "SpikeNetwork",
    "SpikingLayer",
    "TTFSConv2d",
    "TTFSLinear",
    "iris_net",
    "mlp",
    "ttfs_cnn",
    "vgg7",
]
