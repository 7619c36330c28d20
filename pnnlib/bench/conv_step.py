r"""``conv-step``: one VGG7 training step with DSTD against the bare convolutions it cannot avoid.

Conv DSTD (paper-spec §2.4) folds the grid into the batch: for an RC-Spike conv layer with a
random offset the K = M + 1 grid intervals of B samples go through **one** ``conv2d`` of batch
B·K with 2·C_out filters ([W; β∘W]). Whatever else a training step does (spike variables, the
exponential recursion over the grid, readout, noise, pooling, the FC layers, the cost, Adam) is
DSTD overhead. This benchmark times

* ``step``: a full training step of :func:`pnnlib.nn.networks.vgg7` (forward, backward, Adam) with
  the cost of :func:`pnnlib.train.cost` (RC-Spike settings of paper-spec §3.2), and
* ``bare_convs``: for every conv layer of that network, ``conv2d`` forward + backward at the same
  shapes (input ``[B·K, C_in, H, W]``, weight ``[2·C_out, C_in, 3, 3]``; input gradient for all
  but the first layer, as in the step) and nothing else,

and prints their ratio (target ≤ 1.5). Default: the paper's VGG7 (width 1), batch 32, M = 10,
on CUDA when available (``--device``); ``--width`` / ``--batch`` shrink it for a CPU, ``--quick``
runs width 1/8, batch 8. The two measurements are interleaved (load from other processes hits
both alike) and the medians are reported: wall-clock time on CUDA, the process's CPU time on CPU.
``--profile`` adds a ``torch.profiler`` table of the step's most expensive operators.

    python -m pnnlib.bench conv-step [--width 0.5] [--batch 8] [--steps 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from pnnlib.bench.harness import add_common_arguments, resolve_device, standalone_main
from pnnlib.io import write_json_atomic
from pnnlib.nn.layers import RCSpikeConv2d
from pnnlib.nn.networks import SpikeNetwork, vgg7
from pnnlib.train import TrainConfig, cost

__all__ = [
    "HELP",
    "NAME",
    "add_arguments",
    "conv_input_shapes",
    "grid_intervals",
    "main",
    "measure",
    "report",
    "run",
    "time_bare_convs",
    "time_step",
    "training_step",
]

NAME = "conv-step"
HELP = "time one VGG7 training step with DSTD against its bare convolutions (target <= 1.5x)"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], device: torch.device, repeats: int, warmup: int) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls.

    On CUDA: wall-clock time after synchronising. On CPU: the process's CPU time, which, unlike
    wall-clock time, does not count the time other processes on shared cores take from us.
    """
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        _sync(device)
        times.append(clock() - start)
    return times


def conv_input_shapes(net: SpikeNetwork, x: torch.Tensor) -> list[tuple[RCSpikeConv2d, tuple[int, ...]]]:
    """(layer, input shape ``[B, C_in, H, W]``) of every RC-Spike conv layer for input ``x``."""
    shapes: list[tuple[RCSpikeConv2d, tuple[int, ...]]] = []
    hooks = [
        m.register_forward_pre_hook(lambda mod, args: shapes.append((mod, tuple(args[0].shape))))
        for m in net.modules()
        if isinstance(m, RCSpikeConv2d)
    ]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in hooks:
            h.remove()
    return shapes


def grid_intervals(steps: int, offset: str) -> int:
    """K: M + 1 intervals with a random offset (pinned last point), M with a fixed one."""
    return steps + 1 if offset == "random" else steps


def time_step(
    net: SpikeNetwork, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, repeats: int, warmup: int = 1
) -> list[float]:
    """Seconds of full training steps (forward, cost, backward, Adam) on one batch."""
    return _timed(training_step(net, x, y, cfg, int(y.max()) + 1), x.device, repeats, warmup)


def training_step(
    net: SpikeNetwork, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, n_classes: int
) -> Callable[[], None]:
    """A closure running one training step on ``(x, y)`` as :func:`pnnlib.train.train` does: the
    cost of :func:`pnnlib.train.cost`, backward and an Adam update (its own optimizer, ``cfg.lr``)."""
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    net.train()

    def step() -> None:
        c, _, _ = cost(net, x, y, cfg, n_classes)
        opt.zero_grad(set_to_none=True)
        c.backward()
        opt.step()

    return step


def time_bare_convs(
    shapes: Sequence[tuple[RCSpikeConv2d, tuple[int, ...]]],
    k: int,
    device: torch.device,
    repeats: int,
    warmup: int = 1,
) -> list[float]:
    """Seconds of the conv2d forward + backward calls of one step at the DSTD shapes, no more."""
    g = torch.Generator(device=device).manual_seed(0)
    work = []
    for i, (layer, (b, c, h, w)) in enumerate(shapes):
        s = torch.rand(b * k, c, h, w, device=device, generator=g).requires_grad_(i > 0)
        wt = torch.randn(
            2 * layer.weight.shape[0], *layer.weight.shape[1:], device=device, generator=g
        ).requires_grad_()
        ho = (h + 2 * layer.padding - wt.shape[2]) // layer.stride + 1
        wo = (w + 2 * layer.padding - wt.shape[3]) // layer.stride + 1
        gout = torch.randn(b * k, wt.shape[0], ho, wo, device=device, generator=g)
        work.append((s, wt, gout, layer.stride, layer.padding))

    def convs() -> None:
        for s, wt, gout, stride, padding in work:
            out = F.conv2d(s, wt, stride=stride, padding=padding)
            inputs = (s, wt) if s.requires_grad else (wt,)
            torch.autograd.grad(out, inputs, gout)

    return _timed(convs, device, repeats, warmup)


def measure(
    width: float = 1.0,
    batch: int = 32,
    steps: int = 10,
    offset: str = "random",
    device: str = "auto",
    repeats: int = 3,
    threads: int | None = None,
    profile: bool = False,
    e_pos: float = 4.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Time a VGG7 training step and its bare convolutions; returns the numbers as a dict."""
    if threads is not None:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    torch.manual_seed(seed)
    cfg = TrainConfig(
        model="vgg7",
        dataset="fashion_mnist",
        width=width,
        steps=steps,
        offset=offset,
        e_pos=e_pos,
        batch=batch,
        device=str(dev),
        progress=False,
    )
    net = vgg7(3, 10, 32, width, e_pos=e_pos, steps=steps, offset=offset, sigma=cfg.sigma).to(dev)
    x = torch.rand(batch, 3, 32, 32, device=dev)
    y = torch.arange(batch, device=dev) % 10
    shapes = conv_input_shapes(net, x)
    k = grid_intervals(steps, offset)
    # Interleave the two measurements so that load from other processes hits both alike.
    step_t: list[float] = []
    conv_t: list[float] = []
    for _ in range(repeats):
        step_t += time_step(net, x, y, cfg, 1)
        conv_t += time_bare_convs(shapes, k, dev, 1)
    out: dict[str, Any] = {
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "width": width,
        "batch": batch,
        "steps": steps,
        "offset": offset,
        "grid_intervals": k,
        "conv_layers": [list(s) for _, s in shapes],
        "step_s": statistics.median(step_t),
        "bare_convs_s": statistics.median(conv_t),
        "step_all_s": step_t,
        "bare_convs_all_s": conv_t,
    }
    out["ratio"] = out["step_s"] / out["bare_convs_s"]
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        time_step(net, x, y, cfg, 1, warmup=0)
        out["peak_memory_gib"] = torch.cuda.max_memory_allocated(dev) / 2**30
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
        with torch_profile(activities=acts) as prof:
            time_step(net, x, y, cfg, 1, warmup=0)
        key = "self_cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
        out["profile"] = prof.key_averages().table(sort_by=key, row_limit=20)
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``conv-step`` options (plus the shared ones of :mod:`pnnlib.bench.harness`)."""
    add_common_arguments(p)
    p.add_argument("--width", type=float, default=1.0, help="VGG7 width factor (default 1 = the paper's)")
    p.add_argument("--batch", type=int, default=32, help="mini-batch size B (default 32, the paper's)")
    p.add_argument("--steps", type=int, default=10, help="DSTD steps M (default 10)")
    p.add_argument("--offset", choices=("random", "fixed"), default="random", help="grid offset mode")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--profile", action="store_true", help="print a torch.profiler table of one step")


def report(res: dict[str, Any]) -> str:
    """Human-readable summary of :func:`run`'s result."""
    lines = [
        f"conv-step: VGG7 width {res['width']:g}, batch {res['batch']}, M = {res['steps']} "
        f"({res['offset']} offset, K = {res['grid_intervals']} grid intervals), device {res['device_name']}"
        f" ({res['threads']} CPU threads)",
        f"  ({'wall-clock' if res['device'].startswith('cuda') else 'CPU'} time, median of {len(res['step_all_s'])})",
        f"  training step with DSTD : {res['step_s'] * 1e3:10.1f} ms",
        f"  bare convolutions       : {res['bare_convs_s'] * 1e3:10.1f} ms "
        f"(batch B*K, 2*C_out filters, forward + backward)",
        f"  ratio                   : {res['ratio']:10.2f}x (target <= 1.5x)",
    ]
    if res["device"] == "cpu":
        lines.append("  (CPU run: no CUDA device available or --device cpu)")
    if "peak_memory_gib" in res:
        lines.append(f"  peak GPU memory         : {res['peak_memory_gib']:10.2f} GiB")
    if "profile" in res:
        lines.append(res["profile"])
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark for parsed ``args`` (see :func:`add_arguments`), print and save it."""
    width, batch = (0.125, 8) if args.quick else (args.width, args.batch)
    res = measure(
        width, batch, args.steps, args.offset, args.device, args.repeats, args.threads, args.profile, seed=args.seed
    )
    print(report(res), flush=True)
    if args.json is not None:
        write_json_atomic(args.json, {k: v for k, v in res.items() if k != "profile"})
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pnnlib.bench.conv_step ...``, the same as ``python -m pnnlib.bench conv-step ...``."""
    return standalone_main("python -m pnnlib.bench conv-step", HELP, add_arguments, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
