r"""The settings of one training run: :class:`TrainConfig` (validated, YAML in and out).

Its fields are the single source of the run's settings: the ``training`` section of
``config/schema.yaml`` and the parameters cell of ``notebooks/run_train.ipynb`` are checked
against them by the tests (``tests/test_train_config.py``), so a new field is written here once
and the other two follow.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pnnlib import data as data_mod
from pnnlib.core.kernels import KERNELS
from pnnlib.io import yaml_load_strict
from pnnlib.nn.spec import NeuronSpec

__all__ = ["MODELS", "RESUMABLE_KEYS", "TrainConfig", "load_yaml"]

MODELS = ("mlp", "vgg7", "ttfs_cnn", "iris_net")
"""Model names accepted by :class:`TrainConfig` (constructors in :mod:`pnnlib.nn.networks`)."""

RESUMABLE_KEYS = frozenset({"epochs", "num_threads", "progress", "kernel"})
"""Config keys that may differ when a run directory is reused (they do not change the result of
the epochs already done; ``kernel`` and ``num_threads`` change only the float rounding)."""


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
        init_gain: RC-Spike init gain (Var w = gain²/fan_in, :func:`pnnlib.nn.layers.uniform_init_`).
            [open] The paper gives no RC-Spike initialisation (paper-spec §3.4); 0.5 trains at
            every |E| in [1, 100], while gain ≥ 1 stalls at large |E| (hard-clipped early spikes,
            t = 0, pass no gradient): after one epoch on 10k images (lr 1e-4, M = 10) gain
            0.25 / 0.5 / 1 reached 80 / 79 / 33 % at |E| = 100, 79 / 82 / 64 % at |E| = 4 and
            76 / 76 / – % at |E| = 1. t_max: TTFS window end.

    Optimisation (Adam): lr, batch, epochs; gamma1 (Temp), t_ref, tau_soft, gamma2 (Q),
        gamma_w (weight L2), gamma_v (early-spike penalty).

    Run: seed, device (``"auto"`` = CUDA if available), num_threads (CPU threads, ``None`` =
        torch's default), eval_every (test evaluation every k epochs, 0 = only at the end),
        eval_batch, hist_samples (test samples in the spike-time histograms), progress (tqdm),
        kernel (implementation of the RC-Spike DSTD layers' elementwise part: ``"reference"``,
        PyTorch, or ``"triton"``, fused kernels for CUDA; :mod:`pnnlib.core.kernels`).
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
    kernel: str = "reference"

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
        if self.kernel not in KERNELS:
            bad("kernel", f"must be one of {list(KERNELS)}")
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
        if not (isinstance(self.device, str) and re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", self.device)):
            bad("device", "must be the string 'auto', 'cpu', 'cuda' or 'cuda:k' (k = 0, 1, ...)")

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
        d = load_yaml(Path(path).read_text(), source=str(path)) or {}
        if not isinstance(d, dict):
            raise ValueError(f"TrainConfig: {path} must hold a mapping of keys, got {type(d).__name__}")
        return cls.from_dict(d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        """A validated copy with some keys changed (unknown keys are a ``ValueError``)."""
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def neuron_spec(self) -> NeuronSpec:
        """The :class:`~pnnlib.nn.spec.NeuronSpec` every layer of this run's network shares."""
        spec = NeuronSpec(
            e_pos=self.e_pos,
            e_neg=self.e_neg,
            steps=self.steps,
            offset=self.offset,
            eval_steps=self.eval_steps,
            eval_offset=self.eval_offset,
            sigma=self.sigma,
            exact=self.exact,
            kernel=self.kernel,
        )
        if self.model == "ttfs_cnn":
            return spec.replace(t_max=self.t_max)
        return spec.replace(e_dis=self.e_dis)


class _YamlLoader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-4`` (no dot) as a string; this loader reads it as a float."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str, source: str = "<config>") -> Any:
    """Parse YAML with :class:`_YamlLoader` (config files and ``--set`` values); anchors and
    aliases are refused (:func:`pnnlib.io.yaml_load_strict`, raising
    :class:`~pnnlib.io.YamlAliasError` naming ``source``)."""
    return yaml_load_strict(text, source=source, loader=_YamlLoader)


def _finite_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
