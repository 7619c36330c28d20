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
``python -m pnnlib.train --config run.yaml --out results/run``; several runs of one architecture
as one stacked group: :mod:`pnnlib.train.group` (``train_group``, ``group_plan``,
``python -m pnnlib.train.group``). A run directory holds
``config.yaml``, ``checkpoint.pt`` (model, optimizer, RNG states, epoch; written after every
epoch), ``metrics.json``, and at the end ``weights.pt`` and ``spike_hist.npz``. Restarting with
the same config (``epochs`` may grow) resumes from the checkpoint and ends with exactly the
metrics of an uninterrupted run on the same device; a different config is an error.
"""

from pnnlib.train.config import MODELS, RESUMABLE_KEYS, TrainConfig, load_yaml
from pnnlib.train.evaluation import derived_seed, eval_rng, evaluate, spike_histograms
from pnnlib.train.loop import git_revision, load_model, train
from pnnlib.train.losses import (
    classification_loss,
    cost,
    early_spike_penalty,
    predict,
    q_penalty,
    temporal_penalty,
    weight_penalty,
)
from pnnlib.train.models import build_model, resolve_device

__all__ = [
    "MODELS",
    "RESUMABLE_KEYS",
    "TrainConfig",
    "build_model",
    "classification_loss",
    "cost",
    "derived_seed",
    "early_spike_penalty",
    "eval_rng",
    "evaluate",
    "git_revision",
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
