"""The functional core: pure, batched, autograd-friendly functions on spike-time tensors.

* :mod:`pnnlib.core.neuron` — the exact solutions of the IMC-aware neuron (paper-spec §1.2–§1.5,
  §1.7): the RC-Spike accumulation phase (:func:`rcspike_exact`, Algorithm 1, Eq. 33), its
  firing-phase readout (:func:`rcspike_fire_time`, §1.4 / §1.7) and the TTFS neuron
  (:func:`ttfs_exact`);
* :mod:`pnnlib.core.dstd` — differentiable spike-time discretization (§2, Algorithms 3–4):
  :func:`rcspike_dstd`, :func:`ttfs_dstd` and their convolutional forms;
* :mod:`pnnlib.core.dstd_group` — the same for a group of runs trained as one stacked network
  (per-run grids, offsets and E±; :mod:`pnnlib.train.group`);
* :mod:`pnnlib.core.kernels` — the choice between the reference PyTorch code and fused Triton
  kernels for the RC-Spike layers' elementwise part;
* :mod:`pnnlib.core.checks` — the argument checks they share.

Only torch is imported here; layers and networks live in :mod:`pnnlib.nn`.
"""

from pnnlib.core.dstd import (
    dstd_grid,
    rcspike_dstd,
    rcspike_dstd_conv2d,
    rcspike_dstd_trajectory,
    spike_variables,
    ttfs_dstd,
    ttfs_dstd_conv2d,
)
from pnnlib.core.neuron import (
    beta_weight,
    rcspike_exact,
    rcspike_fire_time,
    rcspike_ideal_fire_time,
    ttfs_exact,
)

__all__ = [
    "beta_weight",
    "dstd_grid",
    "rcspike_dstd",
    "rcspike_dstd_conv2d",
    "rcspike_dstd_trajectory",
    "rcspike_exact",
    "rcspike_fire_time",
    "rcspike_ideal_fire_time",
    "spike_variables",
    "ttfs_dstd",
    "ttfs_dstd_conv2d",
    "ttfs_exact",
]
