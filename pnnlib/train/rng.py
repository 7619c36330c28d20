r"""The random streams of one training run, each an explicit :class:`torch.Generator` seeded by the
run's seed, so that runs sharing a process (:mod:`pnnlib.train.group`) draw exactly what they would
draw alone.

* ``init`` (CPU, seeded with ``seed``): the initial weights;
* ``draws`` (the training device, seeded with ``seed``): the DSTD grid offsets
  :math:`t_{offset}\sim U(0,\Delta\tau)` (Algorithms 3–4) and the spike-time noise σ_spike
  (paper-spec §3.3). On the CPU it is the ``init`` generator itself, continuing its stream;
* ``shuffle`` (CPU, seeded with ``seed + 1``): the data order and the augmentation.

These are the streams the training loop drew before the generators were explicit: torch's default
CPU generator after ``torch.manual_seed(seed)`` (initialisation, and on the CPU the draws), the
default CUDA generator of the device after the same call (the draws on a GPU), and a generator
seeded with ``seed + 1``. The checkpoint entry :meth:`RunGenerators.state` keeps the format of
those runs (``{"torch", "shuffle"[, "cuda"]}``), so checkpoints written before resume unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["RunGenerators"]


def _cuda_index(device: torch.device) -> int:
    return device.index if device.index is not None else torch.cuda.current_device()


@dataclass
class RunGenerators:
    """The ``init``, ``draws`` and ``shuffle`` generators of one run (see the module docstring)."""

    init: torch.Generator
    draws: torch.Generator
    shuffle: torch.Generator

    @classmethod
    def seeded(cls, seed: int, device: torch.device) -> RunGenerators:
        """Fresh streams of a run with ``seed`` training on ``device``."""
        init = torch.Generator().manual_seed(seed)
        draws = init if device.type == "cpu" else torch.Generator(device=device).manual_seed(seed)
        return cls(init, draws, torch.Generator().manual_seed(seed + 1))

    def state(self) -> dict[str, Any]:
        """The checkpoint's ``rng`` entry: ``torch`` (the CPU stream), ``shuffle`` and, on CUDA, ``cuda``
        (one state per visible device, the run's draws at its device's index)."""
        state: dict[str, Any] = {"torch": self.init.get_state(), "shuffle": self.shuffle.get_state()}
        if self.draws.device.type == "cuda":
            cuda = torch.cuda.get_rng_state_all()
            cuda[_cuda_index(self.draws.device)] = self.draws.get_state()
            state["cuda"] = cuda
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue the streams saved by :meth:`state` (or by the loop before generators were explicit)."""
        self.init.set_state(state["torch"])
        self.shuffle.set_state(state["shuffle"])
        if self.draws.device.type == "cuda" and "cuda" in state:
            self.draws.set_state(state["cuda"][_cuda_index(self.draws.device)])
