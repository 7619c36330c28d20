r"""``paper-cost``: what a profile's training grids need (device-hours, memory), from measured step times.

The run plan is the one the pipeline builds: ``config/config.yaml`` with
``config/profiles/<profile>.yaml`` (:func:`pnnlib.pipeline.load_profile`, default profile ``paper``),
the MLP runs of :func:`pnnlib.experiments.mlp_plan` (``rules/mlp.smk``) and the runs of every CNN
family of :func:`pnnlib.experiments.cnn.cnn_plan` (``rules/cnn.smk``): ``{run id: TrainConfig}`` per family,
one training job per run id, as Snakemake schedules them.

Cost model of one run (:func:`run_cost`):

* training: ``epochs × ceil(n_train / B)`` steps (``n_train`` = ``train_subset`` or the full
  training set: Fashion-MNIST 60 000, CIFAR-10 50 000; B = ``batch``), each at the run's M;
* evaluation: the test set (``test_subset`` or 10 000 images) once per evaluated epoch
  (``eval_every``) plus ``n_eval`` final evaluations, and ``hist_samples`` images for the spike
  histograms, all forward-only at ``eval_steps``. **Assumption** (linear M scaling): a
  forward-only image costs :data:`EVAL_COST` = 1/3 of a training image (forward + backward ≈ 3
  forwards) at the same M; with measured M scaling the evaluation itself is timed (one run, no
  gradients, at its ``eval_batch``).

The step time is *measured* once per architecture (model, width / hidden sizes, dataset input
shape, B; :func:`measure_arch`): forward, the cost of :func:`pnnlib.train.cost`, backward and
the Adam update (:func:`pnnlib.bench.conv_step.training_step`), on random inputs at a reference
M (``--ref-m``, random offset), the median of ``--repeats`` steps after one warm-up step. With
``--group G`` (G > 1) it is the step of a group of G runs trained together
(:mod:`pnnlib.train.group`: :func:`~pnnlib.train.group.group_step`), and the cost model uses
the **per-run** step, the group's step / G (runs of one architecture are assumed to fill groups
of G). DSTD folds the K grid intervals (K = M + 1 with a random offset, M with a fixed one) into
the batch of one matmul / conv per coefficient, so by default on the CPU a step is **assumed**
to cost step(M) = step(M_ref) · K(M) / K(M_ref); the per-layer work is O(M N_in N_out), the
paper's Table 1. One architecture (``--check-family``) is also measured at ``--check-m``
(default 2 M_ref) to check this. On CUDA (``--m-scaling auto``, or ``measured`` anywhere) the
step is instead measured at every (M, offset mode) the plan trains or evaluates an architecture
with: a GPU step is far from linear in K (launch overheads; measured on an H200: step(M = 20) /
step(M = 10) = 1.36, not 1.91).
The reported time is the process CPU time on CPU (``--threads`` threads: CPU-hours at that thread
count, insensitive to other load on shared cores), the synchronised wall-clock time on CUDA
(GPU-hours).

Memory (training, per job) at the largest training M the plan uses for the architecture: on CUDA
``torch.cuda.max_memory_allocated`` of a training step measured at that M; on CPU the bytes of
the storages autograd saves for backward (:func:`pnnlib.bench.memory.saved_tensor_bytes`) plus
parameters, gradients and the two Adam moments (4 × the parameter bytes); measured at that M when
a forward pass there is predicted to take at most ``--measure-budget`` seconds, else scaled from
M_ref by K (the table says which). Temporaries of the backward pass are not counted, so the CPU
figure is a lower bound of the peak.

GPU-hours on a CPU: a projection from explicit assumptions, never a measurement. By default a
GPU step takes the larger of two bounds: the FLOPs of the convolutions and matrix products of the
step (forward and backward, counted by ``torch.utils.flop_counter.FlopCounterMode`` during the
warm-up step; 2 FLOPs per multiply-add) at a sustained ``--gpu-tflops`` (default 20 TFLOP/s
fp32), and the number of non-view operators the step dispatches (counted in the same step) times
a per-operator launch overhead ``--gpu-op-us`` (default 10 µs), which bounds small networks
such as the MLP. Memory-bound element-wise work is not modelled, so the projection is
optimistic. With ``--gpu-speedup S``: GPU time = CPU time / S.

    python -m pnnlib.bench paper-cost [--profile paper] [--threads 1] [--ref-m 10] [--group 8]
        [--kernel reference|triton] [--m-scaling auto|linear|measured] [--json cost.json]

This module is long (~590 lines) on purpose: one estimator (the plans, FLOP and operator counts, timed
steps, the measured M scaling, the projection and its report) whose parts are only meaningful together.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from pnnlib import pipeline
from pnnlib.bench.conv_step import grid_intervals, training_step
from pnnlib.bench.harness import (
    add_common_arguments,
    format_table,
    resolve_device,
    source_state,
    standalone_main,
    time_call,
)
from pnnlib.bench.memory import cuda_peak_bytes, saved_tensor_bytes
from pnnlib.core.kernels import KERNELS
from pnnlib.experiments.cnn import cnn_plan
from pnnlib.experiments.mlp import mlp_plan
from pnnlib.io import write_json_atomic
from pnnlib.nn.group import GroupNetwork
from pnnlib.train import TrainConfig, build_model, cost
from pnnlib.train.evaluation import eval_batch
from pnnlib.train.group import GraphedGroupStep, GroupAdam, group_cost, group_step

__all__ = [
    "DATASET_SIZES",
    "EVAL_COST",
    "HELP",
    "NAME",
    "Arch",
    "add_arguments",
    "estimate",
    "load_plans",
    "main",
    "measure_arch",
    "report",
    "run",
    "run_cost",
    "step_seconds",
]

NAME = "paper-cost"
HELP = "estimate device-hours and memory of a profile's MLP/CNN training runs from measured step times"

#: dataset → (training images, test images, input shape [C, H, W]) of the full data sets.
DATASET_SIZES: dict[str, tuple[int, int, tuple[int, int, int]]] = {
    "fashion_mnist": (60_000, 10_000, (1, 28, 28)),
    "cifar10": (50_000, 10_000, (3, 32, 32)),
}
N_CLASSES = 10

EVAL_COST = 1.0 / 3.0
"""Assumed cost of one forward-only (evaluation) image relative to one training image at the same M."""

ADAM_COPIES = 4
"""Parameter-sized tensors of an Adam training job: parameters, gradients, two moments."""


@dataclass(frozen=True)
class Arch:
    """What sets the cost of a training step besides M: the network and the mini-batch size B."""

    model: str
    dataset: str
    width: float
    hidden: tuple[int, ...]
    batch: int

    @classmethod
    def of(cls, cfg: TrainConfig) -> Arch:
        """The architecture of a run (``width`` only for VGG7, ``hidden`` only for the MLP)."""
        return cls(
            cfg.model,
            cfg.dataset,
            cfg.width if cfg.model == "vgg7" else 1.0,
            tuple(cfg.hidden) if cfg.model == "mlp" else (),
            cfg.batch,
        )

    @property
    def label(self) -> str:
        """A short name, e.g. ``vgg7 w2 cifar10 B32``."""
        size = {"vgg7": f" w{self.width:g}", "mlp": f" {'-'.join(map(str, self.hidden))}"}.get(self.model, "")
        return f"{self.model}{size} {self.dataset} B{self.batch}"


def load_plans(profile: str, root: str | Path | None = None) -> dict[str, dict[str, TrainConfig]]:
    """``{family: {run id: TrainConfig}}`` of a profile, as the pipeline builds it: ``"mlp"`` from
    the ``mlp`` section (:func:`~pnnlib.experiments.mlp_plan`) and each family of the ``cnn``
    section (:func:`~pnnlib.experiments.cnn.cnn_plan`); a stage missing from the profile adds nothing.

    Raises:
        pnnlib.pipeline.ProfileError: no such profile (the message lists the available ones) or
            invalid settings.
    """
    root = Path(root) if root is not None else pipeline.REPO_ROOT
    config = yaml.safe_load((root / "config" / "config.yaml").read_text()) or {}
    settings = pipeline.load_profile({**config, "profile": profile}, root=root)
    plans: dict[str, dict[str, TrainConfig]] = {}
    if "mlp" in settings:
        plans["mlp"] = mlp_plan(settings["mlp"]["train"], **settings["mlp"]["grid"])
    for family, spec in settings.get("cnn", {}).get("families", {}).items():
        plans[family] = cnn_plan(family, spec["train"], **spec["grid"])
    return plans


def step_seconds(step_ref_s: float, steps: int, offset: str, ref_m: int) -> float:
    """Seconds of a step at M = ``steps`` from one measured at M_ref = ``ref_m`` (random offset):
    linear in the number of grid intervals K (:func:`~pnnlib.bench.conv_step.grid_intervals`)."""
    return step_ref_s * grid_intervals(steps, offset) / grid_intervals(ref_m, "random")


def run_cost(
    cfg: TrainConfig, step_of: Callable[[int, str], float], eval_image_of: Callable[[int, str], float] | None = None
) -> dict[str, Any]:
    """Training steps and device-seconds of one run (see the module docstring for the model);
    ``step_of(M, offset)`` is the (per-run) step time at M with that offset mode,
    ``eval_image_of(M, offset)`` the measured evaluation time per test image (default: the
    assumption :data:`EVAL_COST` × the step time per training image)."""
    n_train, n_test, _ = DATASET_SIZES[cfg.dataset]
    n_train = min(cfg.train_subset or n_train, n_train)
    n_test = min(cfg.test_subset or n_test, n_test)
    train_steps = cfg.epochs * math.ceil(n_train / cfg.batch)
    step_s = step_of(cfg.steps, cfg.offset)
    epoch_evals = (
        len({e for e in range(1, cfg.epochs + 1) if e % cfg.eval_every == 0} | {cfg.epochs}) if cfg.eval_every else 0
    )
    eval_images = (epoch_evals + cfg.n_eval) * n_test + min(cfg.hist_samples, n_test)
    per_image = (
        eval_image_of(cfg.eval_steps, cfg.eval_offset)
        if eval_image_of is not None
        else EVAL_COST * step_of(cfg.eval_steps, cfg.eval_offset) / cfg.batch
    )
    eval_s = per_image * eval_images
    return {
        "n_train": n_train,
        "n_test": n_test,
        "epochs": cfg.epochs,
        "steps": cfg.steps,
        "offset": cfg.offset,
        "eval_steps": cfg.eval_steps,
        "train_steps": train_steps,
        "step_s": step_s,
        "eval_images": eval_images,
        "eval_s": eval_s,
        "device_s": train_steps * step_s + eval_s,
    }


class _OpCounter(TorchDispatchMode):
    """Counts the non-view ATen operators dispatched while active (≈ kernel launches on a GPU)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        self.ops += not func.is_view
        return func(*args, **(kwargs or {}))


def _param_bytes(net: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in net.parameters())


@dataclass
class _StepSetup:
    """A training step on random inputs (one run, or a group of runs) and what the estimate reads."""

    step: Callable[[], Any]  # forward, cost, backward, Adam (timed)
    forward: Callable[[], torch.Tensor]  # forward and cost only (for the saved-for-backward bytes)
    param_bytes: int
    group: int
    eager_step: Callable[[], Any]  # the same step dispatched op by op (counted: FLOPs, operators)


def _setup(
    cfg: TrainConfig, steps: int, offset: str, device: torch.device, seed: int, group: int, cuda_graph: bool = False
) -> _StepSetup:
    """Model(s) of ``cfg`` at M = ``steps`` with ``offset``, random inputs of one batch, the step
    (with ``cfg.kernel``).

    ``group`` > 1: G runs (seeds ``seed`` … ``seed + G - 1``) trained as one group; ``cuda_graph``:
    its step replayed from a CUDA graph (:class:`~pnnlib.train.group.GraphedGroupStep`)."""
    torch.manual_seed(seed)
    mcfg = cfg.replace(steps=steps, offset=offset, device=str(device))
    shape = DATASET_SIZES[cfg.dataset][2]
    if group == 1 and not cuda_graph:
        net = build_model(mcfg, shape, N_CLASSES).to(device)
    x = torch.rand(cfg.batch, *shape, device=device)
    if cfg.model == "mlp":
        x = x.flatten(1)
    y = torch.arange(cfg.batch, device=device) % N_CLASSES
    if group == 1 and not cuda_graph:
        step = training_step(net, x, y, mcfg, N_CLASSES)
        return _StepSetup(step, lambda: cost(net, x, y, mcfg, N_CLASSES)[0], _param_bytes(net), 1, step)
    cfgs = [mcfg.replace(seed=seed + r) for r in range(group)]
    nets = [build_model(c, shape, N_CLASSES, torch.Generator().manual_seed(c.seed)).to(device) for c in cfgs]
    gens = [torch.Generator(device=device).manual_seed(c.seed) for c in cfgs]
    for gen, net in zip(gens, nets):
        net.set_generator(gen)
        net.train()
    gnet, opt = GroupNetwork(nets), GroupAdam(nets, [c.lr for c in cfgs], capturable=cuda_graph)
    xb, yb = gnet.stack_inputs([x] * group), y.expand(group, -1).contiguous()

    def eager() -> Any:
        return group_step(gnet, opt, xb, yb, cfgs, N_CLASSES)

    step = eager
    if cuda_graph:
        graphed = GraphedGroupStep(gnet, opt, cfgs, N_CLASSES, xb, yb, gens)
        step = lambda: graphed(xb, yb)  # noqa: E731
    return _StepSetup(
        step,
        lambda: group_cost(gnet, xb, yb, cfgs, N_CLASSES)[0].sum(),
        sum(_param_bytes(n) for n in nets),
        group,
        eager,
    )


def _time_step(
    cfg: TrainConfig,
    steps: int,
    device: torch.device,
    repeats: int,
    seed: int,
    group: int = 1,
    offset: str = "random",
    cuda_graph: bool = False,
) -> dict[str, Any]:
    """One warm-up step (counting FLOPs, operators and saved bytes), then ``repeats`` timed steps at
    M = ``steps``. ``step_s``, ``flops`` and ``ops`` are per run (a group's divided by G);
    ``group_step_s`` is the whole group's step (replayed from a CUDA graph with ``cuda_graph``; the
    counts are those of the same step dispatched op by op)."""
    st = _setup(cfg, steps, offset, device, seed, group, cuda_graph)
    with FlopCounterMode(display=False) as flops, _OpCounter() as ops:
        saved = saved_tensor_bytes(st.eager_step)
    wall, cpu = time_call(st.step, device, repeats)
    times = wall if device.type == "cuda" else cpu
    return {
        "steps": steps,
        "offset": offset,
        "group": group,
        "group_step_s": statistics.median(times),
        "step_s": statistics.median(times) / group,
        "step_all_s": times,
        "wall_all_s": wall,
        "flops": int(flops.get_total_flops()) // group,
        "ops": ops.ops / group,
        "saved_bytes": saved,
        "param_bytes": st.param_bytes,
    }


def _time_eval(cfg: TrainConfig, steps: int, offset: str, device: torch.device, repeats: int, seed: int) -> float:
    """Seconds per test image of an evaluation at M = ``steps`` with ``offset``: one run's forward
    pass and cost in eval mode without gradients, at the run's evaluation batch size (what
    :func:`pnnlib.train.evaluate` does)."""
    torch.manual_seed(seed)
    mcfg = cfg.replace(eval_steps=steps, eval_offset=offset, device=str(device))
    shape = DATASET_SIZES[cfg.dataset][2]
    net = build_model(mcfg, shape, N_CLASSES).to(device).eval()
    batch = eval_batch(mcfg, device)
    x = torch.rand(batch, *shape, device=device)
    x = x.flatten(1) if cfg.model == "mlp" else x
    y = torch.arange(batch, device=device) % N_CLASSES

    def forward() -> None:
        with torch.no_grad():
            cost(net, x, y, mcfg, N_CLASSES)

    forward()
    wall, cpu = time_call(forward, device, repeats)
    return statistics.median(wall if device.type == "cuda" else cpu) / batch


def _memory_at(
    cfg: TrainConfig, steps: int, device: torch.device, seed: int, group: int, cuda_graph: bool = False
) -> int:
    """Training memory (bytes) of one step (of the whole group) at M = ``steps``, measured (see the
    module docstring)."""
    st = _setup(cfg, steps, "random", device, seed, group, cuda_graph)
    if device.type == "cuda":
        st.step()  # Adam state allocated
        return torch.cuda.memory_allocated(device) + cuda_peak_bytes(st.step, device)
    return ADAM_COPIES * st.param_bytes + saved_tensor_bytes(st.forward)


def measure_arch(
    cfg: TrainConfig,
    ref_m: int,
    max_m: int,
    device: torch.device,
    repeats: int,
    seed: int = 0,
    check_m: int | None = None,
    measure_budget_s: float = 5.0,
    group: int = 1,
    grid_points: Sequence[tuple[int, str]] = (),
    eval_points: Sequence[tuple[int, str]] = (),
    cuda_graph: bool = False,
) -> dict[str, Any]:
    """Measure the architecture of ``cfg``: step time, FLOPs and saved bytes at M_ref (and at
    ``check_m`` if given, and at every ``(M, offset)`` of ``grid_points``: ``by_m``), the
    evaluation time per image at every point of ``eval_points`` (``eval_by_m``), training memory at
    ``max_m`` (the plan's largest training M); with ``group`` > 1 for a group of G runs, with
    ``cuda_graph`` its step replayed from a CUDA graph."""
    ref = _time_step(cfg, ref_m, device, repeats, seed, group, cuda_graph=cuda_graph)
    out: dict[str, Any] = {"ref": ref, "max_m": max_m, "group": group}
    if check_m is not None:
        chk = _time_step(cfg, check_m, device, repeats, seed, group, cuda_graph=cuda_graph)
        out["check"] = {
            **chk,
            "time_ratio": chk["step_s"] / ref["step_s"],
            "saved_ratio": chk["saved_bytes"] / ref["saved_bytes"],
            "k_ratio": grid_intervals(check_m, "random") / grid_intervals(ref_m, "random"),
            "m_ratio": check_m / ref_m,
        }
    if grid_points:
        out["by_m"] = {
            f"{m}-{o}": (
                ref if (m, o) == (ref_m, "random") else _time_step(cfg, m, device, repeats, seed, group, o, cuda_graph)
            )["step_s"]
            for m, o in sorted(set(grid_points))
        }
    if eval_points:
        out["eval_by_m"] = {
            f"{m}-{o}": _time_eval(cfg, m, o, device, repeats, seed) for m, o in sorted(set(eval_points))
        }
    forward_s = EVAL_COST * step_seconds(ref["group_step_s"], max_m, "random", ref_m)
    if max_m == ref_m and device.type == "cpu":
        out.update(memory_bytes=ADAM_COPIES * ref["param_bytes"] + ref["saved_bytes"], memory_source="measured")
    elif device.type == "cuda" or forward_s <= measure_budget_s:
        out.update(memory_bytes=_memory_at(cfg, max_m, device, seed, group, cuda_graph), memory_source="measured")
    else:
        saved = ref["saved_bytes"] * grid_intervals(max_m, "random") / grid_intervals(ref_m, "random")
        out.update(memory_bytes=int(ADAM_COPIES * ref["param_bytes"] + saved), memory_source="scaled from M_ref")
    return out


def estimate(
    profile: str = "paper",
    *,
    ref_m: int = 10,
    check_m: int | None = None,
    check_family: str | None = None,
    device: str = "auto",
    repeats: int = 3,
    seed: int = 0,
    threads: int | None = None,
    gpu_tflops: float = 20.0,
    gpu_op_us: float = 10.0,
    gpu_speedup: float | None = None,
    measure_budget_s: float = 5.0,
    root: str | Path | None = None,
    log: Any = None,
    group: int = 1,
    m_scaling: str = "auto",
    kernel: str = "reference",
    cuda_graph: bool = False,
) -> dict[str, Any]:
    """Measure every architecture of the profile's plans and cost every run; returns the numbers.

    ``check_m`` (default 2 M_ref) is measured for the architecture of ``check_family`` (default:
    the first CNN family, else the first family). ``group``: time groups of G runs and cost each
    run at the per-run step. ``m_scaling``: ``"linear"`` (step linear in K from M_ref),
    ``"measured"`` (the step measured at every M and offset mode of the plan) or ``"auto"``
    (measured on CUDA, linear on the CPU). ``kernel``: the DSTD kernels every run uses
    (:mod:`pnnlib.core.kernels`). ``cuda_graph``: time the group step replayed from a CUDA graph.
    ``log`` (a file) gets progress lines.
    """
    if isinstance(group, bool) or not isinstance(group, int) or group < 1:
        raise ValueError(f"group must be an int >= 1, got {group!r}")
    if m_scaling not in ("auto", "linear", "measured"):
        raise ValueError(f"m_scaling must be auto, linear or measured, got {m_scaling!r}")
    if threads is not None:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    if cuda_graph and dev.type != "cuda":
        raise ValueError(f"--cuda-graph needs a CUDA device, got {dev}")
    plans = load_plans(profile, root)
    if not plans:
        raise pipeline.ProfileError(f"profile {profile!r} has no mlp or cnn section: nothing to estimate")
    check_m = 2 * ref_m if check_m is None else check_m
    if check_family is None:
        check_family = next((f for f in plans if f != "mlp"), next(iter(plans)))
    if check_family not in plans:
        raise pipeline.ProfileError(
            f"--check-family {check_family!r} is not in profile {profile!r} (known: {', '.join(plans)})"
        )
    measured_m = m_scaling == "measured" or (m_scaling == "auto" and dev.type == "cuda")
    archs: dict[Arch, TrainConfig] = {}
    max_m: dict[Arch, int] = {}
    points: dict[Arch, set[tuple[int, str]]] = {}
    eval_points: dict[Arch, set[tuple[int, str]]] = {}
    plans = {f: {rid: cfg.replace(kernel=kernel) for rid, cfg in plan.items()} for f, plan in plans.items()}
    for plan in plans.values():
        for cfg in plan.values():
            a = Arch.of(cfg)
            archs.setdefault(a, cfg)
            max_m[a] = max(max_m.get(a, 0), cfg.steps)
            points.setdefault(a, set()).add((cfg.steps, cfg.offset))
            eval_points.setdefault(a, set()).add((cfg.eval_steps, cfg.eval_offset))
    check_arch = Arch.of(next(iter(plans[check_family].values())))
    measured: dict[Arch, dict[str, Any]] = {}
    for a, cfg in archs.items():
        if log is not None:
            what = (
                f"{len(points[a])} training and {len(eval_points[a])} evaluation (M, offset) points"
                if measured_m
                else f"M = {ref_m}"
            )
            print(
                f"  measuring {a.label}{f' in groups of {group}' if group > 1 else ''} at {what}"
                f"{f' and M = {check_m}' if a == check_arch else ''} ...",
                file=log,
                flush=True,
            )
        m = measure_arch(
            cfg,
            ref_m,
            max_m[a],
            dev,
            repeats,
            seed,
            check_m if a == check_arch else None,
            measure_budget_s,
            group,
            sorted(points[a]) if measured_m else (),
            sorted(eval_points[a]) if measured_m else (),
            cuda_graph,
        )
        ref = m["ref"]
        gpu_ref_s = (
            ref["step_s"] / gpu_speedup
            if gpu_speedup
            else max(ref["flops"] / (gpu_tflops * 1e12), ref["ops"] * gpu_op_us * 1e-6)
        )
        measured[a] = {
            "arch": a.label,
            "model": a.model,
            "dataset": a.dataset,
            "width": a.width,
            "hidden": list(a.hidden),
            "batch": a.batch,
            **m,
            "gpu_step_ref_s": None if dev.type == "cuda" else gpu_ref_s,
            "gpu_speedup": None if dev.type == "cuda" else ref["step_s"] / gpu_ref_s,
        }

    def step_of(a: Arch) -> Callable[[int, str], float]:
        if measured_m:
            return lambda steps, offset: measured[a]["by_m"][f"{steps}-{offset}"]
        return lambda steps, offset: step_seconds(measured[a]["ref"]["step_s"], steps, offset, ref_m)

    def eval_image_of(a: Arch) -> Callable[[int, str], float] | None:
        if measured_m:
            return lambda steps, offset: measured[a]["eval_by_m"][f"{steps}-{offset}"]
        return None

    runs, families = [], []
    for family, plan in plans.items():
        by_arch: dict[Arch, list[dict[str, Any]]] = {}
        for rid, cfg in plan.items():
            a = Arch.of(cfg)
            r = {"family": family, "run": rid, "arch": a.label, **run_cost(cfg, step_of(a), eval_image_of(a))}
            by_arch.setdefault(a, []).append(r)
            runs.append(r)
        for a, rs in by_arch.items():
            device_h = sum(r["device_s"] for r in rs) / 3600
            families.append(
                {
                    "family": family,
                    "arch": a.label,
                    "runs": len(rs),
                    "epochs": sum(r["epochs"] for r in rs),
                    "train_steps": sum(r["train_steps"] for r in rs),
                    "step_ref_s": measured[a]["ref"]["step_s"],
                    "eval_share": sum(r["eval_s"] for r in rs) / 3600 / device_h,
                    "device_h": device_h,
                    "gpu_h": device_h if dev.type == "cuda" else device_h / measured[a]["gpu_speedup"],
                    "max_m": max(r["steps"] for r in rs),
                    "memory_gib": measured[a]["memory_bytes"] / 2**30,
                    "memory_source": measured[a]["memory_source"],
                }
            )
    total = {
        "family": "total",
        "runs": len(runs),
        "epochs": sum(f["epochs"] for f in families),
        "train_steps": sum(f["train_steps"] for f in families),
        "device_h": sum(f["device_h"] for f in families),
        "gpu_h": sum(f["gpu_h"] for f in families),
        "memory_gib": max(f["memory_gib"] for f in families),
    }
    check = measured[check_arch]["check"]
    return {
        "profile": profile,
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "time": "wall-clock" if dev.type == "cuda" else "process CPU",
        "ref_m": ref_m,
        "repeats": repeats,
        "seed": seed,
        "source": source_state(),
        "group": group,
        "kernel": kernel,
        "cuda_graph": cuda_graph,
        "m_scaling": "measured" if measured_m else "linear",
        "assumptions": {
            "step_scaling": "step(M) measured at every (M, offset mode) of the plan"
            if measured_m
            else "step(M) = step(M_ref) * K(M) / K(M_ref), K = M + 1 (random offset) or M (fixed)",
            "group": f"runs trained in groups of {group}, each costing the group's step / {group}"
            if group > 1
            else "each run trained alone",
            "eval_cost_per_image": EVAL_COST,
            "eval": "an evaluation image costs what one run's no-grad forward and cost take per image at its "
            "eval_batch and eval M"
            if measured_m
            else f"an evaluation image costs {EVAL_COST:.2f} of a training image at the same M",
            "cpu_memory": "saved-for-backward bytes + 4 x parameter bytes (params, grads, Adam moments)",
            "gpu_projection": None
            if dev.type == "cuda"
            else (
                f"GPU time = CPU time / {gpu_speedup:g} (--gpu-speedup)"
                if gpu_speedup
                else f"GPU step = max(conv+matmul FLOPs / {gpu_tflops:g} TFLOP/s sustained, "
                f"dispatched operators x {gpu_op_us:g} us launch overhead); element-wise work not modelled"
            ),
            "gpu_tflops": gpu_tflops,
            "gpu_op_us": gpu_op_us,
            "gpu_speedup": gpu_speedup,
        },
        "linearity": {
            "arch": check_arch.label,
            "family": check_family,
            "ref_m": ref_m,
            "check_m": check_m,
            **{k: check[k] for k in ("time_ratio", "saved_ratio", "k_ratio", "m_ratio")},
            "step_ref_s": measured[check_arch]["ref"]["step_s"],
            "step_check_s": check["step_s"],
        },
        "architectures": list(measured.values()),
        "families": families,
        "total": total,
        "runs": runs,
    }


def report(res: Mapping[str, Any]) -> str:
    """The tables and the stated assumptions of :func:`estimate`'s result."""
    cuda = res["device"].startswith("cuda")
    unit = "GPU-h" if cuda else "CPU-h"
    lin = res["linearity"]
    arch_cols = [
        ("arch", "architecture"),
        ("step_ms", f"step @M={res['ref_m']} [ms]"),
        ("gflop", "GFLOP/step"),
        ("ops", "ops/step"),
        ("saved_mib", "saved [MiB]"),
        ("max_m", "max M"),
        ("memory_gib", "train mem @max M [GiB]"),
        ("memory_source", "memory"),
    ]
    if not cuda:
        arch_cols.insert(4, ("gpu_speedup", "GPU speedup (assumed)"))
    if res["group"] > 1:
        arch_cols[1] = ("step_ms", f"step per run @M={res['ref_m']} [ms]")
        arch_cols.insert(2, ("group_step_ms", f"group of {res['group']} [ms]"))
    arch_rows = [
        {
            **a,
            "step_ms": a["ref"]["step_s"] * 1e3,
            "group_step_ms": a["ref"]["group_step_s"] * 1e3,
            "gflop": a["ref"]["flops"] / 1e9,
            "ops": a["ref"]["ops"],
            "saved_mib": a["ref"]["saved_bytes"] / 2**20,
            "memory_gib": a["memory_bytes"] / 2**30,
        }
        for a in res["architectures"]
    ]
    fam_cols = [
        ("family", "family"),
        ("arch", "architecture"),
        ("runs", "runs"),
        ("epochs", "epochs"),
        ("train_steps", "train steps"),
        ("step_ms", f"step @M={res['ref_m']} [ms]"),
        ("eval_pct", "eval %"),
        ("device_h", unit),
    ]
    if not cuda:
        fam_cols.append(("gpu_h", "GPU-h (projected)"))
    fam_cols += [("max_m", "max M"), ("memory_gib", "train mem [GiB]")]
    fam_rows = [{**f, "step_ms": f["step_ref_s"] * 1e3, "eval_pct": 100 * f["eval_share"]} for f in res["families"]]
    a = res["assumptions"]
    lines = [
        f"paper-cost: profile '{res['profile']}', device {res['device_name']} ({res['threads']} CPU threads), "
        f"{res['time']} time, median of {res['repeats']} steps after 1 warm-up, {res['kernel']} DSTD kernels"
        + (", steps replayed from a CUDA graph" if res["cuda_graph"] else "")
        + (f"; groups of {res['group']} runs, per-run steps (group step / {res['group']})" if res["group"] > 1 else ""),
        "",
        "Measured per architecture (random inputs, random offset):",
        format_table(arch_rows, arch_cols),
        "",
        f"Per family ({unit}: measured step times x the cost model):",
        format_table([*fam_rows, res["total"]], fam_cols),
        "",
        f"Linearity check ({lin['arch']}): step(M={lin['check_m']}) / step(M={lin['ref_m']}) = "
        f"{lin['time_ratio']:.2f} measured ({lin['step_check_s'] * 1e3:.0f} / {lin['step_ref_s'] * 1e3:.0f} ms), "
        f"{lin['k_ratio']:.2f} assumed (K ratio; M ratio {lin['m_ratio']:.2f}); "
        f"saved bytes ratio {lin['saved_ratio']:.2f}",
        f"{'Measured' if res['m_scaling'] == 'measured' else 'Assumption'}: {a['step_scaling']}.",
        f"Assumption: {a['group']}.",
        f"{'Measured' if res['m_scaling'] == 'measured' else 'Assumption'}: {a['eval']}; evaluations: every "
        "eval_every epoch + n_eval final + hist_samples images.",
    ]
    if cuda:
        lines.append("Memory: torch.cuda.max_memory_allocated of a training step at the family's largest M.")
    else:
        lines += [
            f"Memory (CPU): {a['cpu_memory']}, at the largest M; a lower bound of the peak.",
            f"GPU-h projection — assumption, not measured: {a['gpu_projection']}.",
        ]
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``paper-cost`` options (plus the shared ones of :mod:`pnnlib.bench.harness`)."""
    add_common_arguments(p)
    p.add_argument("--profile", default="paper", help="config/profiles/<name>.yaml (default paper)")
    p.add_argument("--ref-m", type=int, default=10, help="M at which every architecture is timed (default 10)")
    p.add_argument("--check-m", type=int, default=None, help="second M for the linearity check (default 2 x ref)")
    p.add_argument("--check-family", default=None, help="family whose architecture is checked (default: 1st CNN)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument(
        "--gpu-tflops",
        type=float,
        default=20.0,
        help="assumed sustained GPU FLOP/s (in TFLOP/s) for the CPU-run projection (default 20)",
    )
    p.add_argument(
        "--gpu-op-us",
        type=float,
        default=10.0,
        help="assumed GPU launch overhead per operator in microseconds for the projection (default 10)",
    )
    p.add_argument(
        "--gpu-speedup",
        type=float,
        default=None,
        help="assumed GPU speed-up over the measured CPU step instead of the FLOP count",
    )
    p.add_argument(
        "--group",
        type=int,
        default=1,
        help="time groups of G runs trained together (pnnlib.train.group); cost per run (default 1)",
    )
    p.add_argument(
        "--kernel",
        choices=KERNELS,
        default="reference",
        help="DSTD elementwise kernels of every run (pnnlib.core.kernels; default reference)",
    )
    p.add_argument(
        "--cuda-graph",
        action="store_true",
        help="time the (group) training step replayed from a CUDA graph (CUDA only)",
    )
    p.add_argument(
        "--m-scaling",
        choices=("auto", "linear", "measured"),
        default="auto",
        help="step vs M: linear in K from --ref-m, or measured at every M of the plan "
        "(default auto: measured on CUDA, linear on the CPU)",
    )
    p.add_argument(
        "--measure-budget",
        type=float,
        default=5.0,
        help="CPU: measure memory at the largest M if a forward there takes <= this many s (default 5)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the estimate for parsed ``args`` (``--quick``: profile smoke, 1 repeat), print and save it."""
    profile, repeats = ("smoke", 1) if args.quick else (args.profile, args.repeats)
    try:
        res = estimate(
            profile,
            ref_m=args.ref_m,
            check_m=args.check_m,
            check_family=args.check_family,
            device=args.device,
            repeats=repeats,
            seed=args.seed,
            threads=args.threads,
            gpu_tflops=args.gpu_tflops,
            gpu_op_us=args.gpu_op_us,
            gpu_speedup=args.gpu_speedup,
            measure_budget_s=args.measure_budget,
            log=sys.stderr,
            group=args.group,
            m_scaling=args.m_scaling,
            kernel=args.kernel,
            cuda_graph=args.cuda_graph,
        )
    except pipeline.ProfileError as err:
        print(f"paper-cost: {err}", file=sys.stderr)
        return 2
    print(report(res), flush=True)
    if args.json is not None:
        write_json_atomic(args.json, res)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pnnlib.bench.paper_cost ...``, the same as ``python -m pnnlib.bench paper-cost ...``."""
    return standalone_main("python -m pnnlib.bench paper-cost", HELP, add_arguments, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
