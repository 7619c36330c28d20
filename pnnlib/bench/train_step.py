r"""``train-step``: one MLP training step with DSTD against the bare matrix products it cannot avoid.

Dense DSTD (paper-spec §2.4, Eqs. 36–44) computes, per RC-Spike layer, the coefficients
:math:`[\tilde f;\tilde g]` of all K grid intervals (K = M + 1 with a random offset) with
**one** matmul ``[B·K, N_in] × [N_in, 2·N_out]`` ([β∘W; W] stacked). Everything else in a
training step (spike variables, the exponential step over the grid, readout, noise, the cost,
Adam) is DSTD overhead. This benchmark times, for the paper's 784-400-400-10 MLP (M = 10,
random offset, |E| = 4, σ = 0.01, the RC-Spike cost of :func:`pnnlib.train.cost`):

* ``fwd+bwd``: forward, cost and backward;
* ``step``: the same plus the Adam update (a full training step);
* ``bare matmuls``: per layer the forward matmul at the DSTD shape and its backward (weight
  gradient; input gradient for all but the first layer, whose input needs none), nothing else;

for batch 32 and 128, and prints the ratio ``fwd+bwd / bare`` (target ≤ 1.5) and the
resulting time of a 60 000-image epoch. With ``--group G ...`` it also times, per G, a training
step of G such MLP runs trained together (:func:`pnnlib.train.group.group_step`, different
seeds and inputs per run) and reports it per run (``group_G_step_s`` = group step / G), next to
the single run's step. Measurements are interleaved (load from other processes hits all alike)
and the median is reported.

    python -m pnnlib.bench train-step [--batch 32 128] [--steps 10] [--threads 1] [--group 1 2 4 8] [--profile]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from pnnlib.bench.harness import standalone_main
from pnnlib.nn.group import GroupNetwork
from pnnlib.nn.networks import mlp
from pnnlib.train import TrainConfig, cost, resolve_device
from pnnlib.train.group import GroupAdam, group_step

__all__ = [
    "HELP",
    "NAME",
    "add_arguments",
    "main",
    "measure",
    "report",
    "run",
    "time_bare_matmuls",
    "time_group_step",
    "time_step",
]

NAME = "train-step"
HELP = "time one MLP 784-400-400-10 training step with DSTD against its bare matmuls (target <= 1.5x)"
SIZES = (784, 400, 400, 10)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], Any], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def time_step(cfg: TrainConfig, batch: int, device: torch.device) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """``(fwd_bwd, step)`` closures on one batch of random inputs for the MLP of ``cfg``."""
    net = mlp(SIZES, e_pos=cfg.e_pos, steps=cfg.steps, offset=cfg.offset, sigma=cfg.sigma).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.rand(batch, SIZES[0], device=device, generator=g)
    y = torch.arange(batch, device=device) % SIZES[-1]

    def fwd_bwd() -> None:
        c, _, _ = cost(net, x, y, cfg, SIZES[-1])
        opt.zero_grad(set_to_none=True)
        c.backward()

    def step() -> None:
        fwd_bwd()
        opt.step()

    return fwd_bwd, step


def time_group_step(cfg: TrainConfig, batch: int, group: int, device: torch.device) -> Callable[[], Any]:
    """A closure running one training step of ``group`` MLP runs of ``cfg`` trained as one group."""
    nets = []
    for r in range(group):
        net = mlp(
            SIZES,
            e_pos=cfg.e_pos,
            steps=cfg.steps,
            offset=cfg.offset,
            sigma=cfg.sigma,
            init_generator=torch.Generator().manual_seed(r),
        ).to(device)
        net.set_generator(torch.Generator(device=device).manual_seed(r))
        nets.append(net)
    g = torch.Generator(device=device).manual_seed(0)
    gnet, opt = GroupNetwork(nets), GroupAdam(nets, [cfg.lr] * group)
    x = gnet.stack_inputs([torch.rand(batch, SIZES[0], device=device, generator=g) for _ in range(group)])
    y = (torch.arange(batch, device=device) % SIZES[-1]).expand(group, -1)
    cfgs = [cfg] * group

    def step() -> None:
        group_step(gnet, opt, x, y, cfgs, SIZES[-1])

    return step


def time_bare_matmuls(batch: int, k: int, device: torch.device) -> Callable[[], Any]:
    """Closure running, per layer, ``[B·K, N_in] @ [N_in, 2·N_out]`` forward and backward."""
    g = torch.Generator(device=device).manual_seed(0)
    work = []
    for i, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        s = torch.rand(batch * k, n_in, device=device, generator=g).requires_grad_(i > 0)
        w = torch.randn(n_in, 2 * n_out, device=device, generator=g).requires_grad_()
        gout = torch.randn(batch * k, 2 * n_out, device=device, generator=g)
        work.append((s, w, gout))

    def matmuls() -> None:
        for s, w, gout in work:
            out = s @ w
            torch.autograd.grad(out, (s, w) if s.requires_grad else (w,), gout)

    return matmuls


def measure(
    batches: Sequence[int] = (32, 128),
    steps: int = 10,
    offset: str = "random",
    device: str = "auto",
    repeats: int = 20,
    threads: int | None = None,
    profile: bool = False,
    groups: Sequence[int] = (),
) -> dict[str, Any]:
    """Time the MLP step and its bare matmuls for each batch size (and the per-run step of groups of
    each size in ``groups``); returns the numbers."""
    if threads is not None:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    torch.manual_seed(0)
    cfg = TrainConfig(steps=steps, offset=offset, device=str(dev), progress=False)
    k = steps + 1 if offset == "random" else steps
    out: dict[str, Any] = {
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "sizes": list(SIZES),
        "steps": steps,
        "offset": offset,
        "grid_intervals": k,
        "e_pos": cfg.e_pos,
        "sigma": cfg.sigma,
        "results": [],
    }
    for batch in batches:
        fwd_bwd, step = time_step(cfg, batch, dev)
        bare = time_bare_matmuls(batch, k, dev)
        grouped = {g: time_group_step(cfg, batch, g, dev) for g in groups}
        for fn in (fwd_bwd, step, bare, *grouped.values()):  # warm-up
            fn()
        t_fb, t_step, t_bare = [], [], []
        t_group: dict[int, list[float]] = {g: [] for g in groups}
        for _ in range(repeats):
            t_fb.append(_time(fwd_bwd, dev))
            t_step.append(_time(step, dev))
            t_bare.append(_time(bare, dev))
            for g, fn in grouped.items():
                t_group[g].append(_time(fn, dev) / g)
        row = {
            "batch": batch,
            "fwd_bwd_s": statistics.median(t_fb),
            "step_s": statistics.median(t_step),
            "bare_matmuls_s": statistics.median(t_bare),
            **{f"group_{g}_step_s": statistics.median(ts) for g, ts in t_group.items()},
        }
        row["ratio"] = row["fwd_bwd_s"] / row["bare_matmuls_s"]
        row["ratio_with_adam"] = row["step_s"] / row["bare_matmuls_s"]
        row["epoch_60k_min"] = row["step_s"] * 60000 / batch / 60
        if profile:
            from torch.profiler import ProfilerActivity
            from torch.profiler import profile as torch_profile

            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
            with torch_profile(activities=acts) as prof:
                for _ in range(5):
                    step()
            key = "self_cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
            row["profile"] = prof.key_averages().table(sort_by=key, row_limit=20)
        out["results"].append(row)
    return out


def report(res: dict[str, Any]) -> str:
    """Human-readable summary of :func:`measure`'s result."""
    lines = [
        f"train-step: MLP {'-'.join(map(str, res['sizes']))}, M = {res['steps']} ({res['offset']} offset, "
        f"K = {res['grid_intervals']} grid intervals), |E| = {res['e_pos']:g}, sigma = {res['sigma']:g}, "
        f"device {res['device_name']} ({res['threads']} CPU threads)",
        f"  {'batch':>5}  {'fwd+bwd':>9}  {'+Adam':>9}  {'bare mm':>9}  {'ratio':>6}  {'w/ Adam':>7}  {'epoch 60k':>9}",
    ]
    for r in res["results"]:
        lines.append(
            f"  {r['batch']:>5}  {r['fwd_bwd_s'] * 1e3:7.2f}ms  {r['step_s'] * 1e3:7.2f}ms  "
            f"{r['bare_matmuls_s'] * 1e3:7.2f}ms  {r['ratio']:5.2f}x  {r['ratio_with_adam']:6.2f}x  "
            f"{r['epoch_60k_min']:7.2f}min"
        )
    lines.append(
        "  ratio = (forward + cost + backward) / (bare matmuls [B*K, N_in] x [N_in, 2*N_out], fwd + bwd);"
        " target <= 1.5x"
    )
    for r in res["results"]:
        groups = sorted(int(k.split("_")[1]) for k in r if k.startswith("group_"))
        if groups:
            lines.append(
                f"  batch {r['batch']}, step per run in a group of G "
                f"(single run: {r['step_s'] * 1e3:.2f} ms): "
                + ", ".join(
                    f"G={g}: {r[f'group_{g}_step_s'] * 1e3:.2f} ms ({r[f'group_{g}_step_s'] / r['step_s']:.2f}x)"
                    for g in groups
                )
            )
    for r in res["results"]:
        if "profile" in r:
            lines += [f"  profile, batch {r['batch']} (5 steps):", r["profile"]]
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``train-step`` options (shared with the ``python -m pnnlib.bench`` dispatcher)."""
    p.add_argument("--batch", type=int, nargs="+", default=[32, 128], help="mini-batch sizes (paper: 32)")
    p.add_argument("--steps", type=int, default=10, help="DSTD steps M (default 10)")
    p.add_argument("--offset", choices=("random", "fixed"), default="random", help="grid offset mode")
    p.add_argument("--device", default="auto", help="'auto' (CUDA if available), 'cpu', 'cuda[:k]'")
    p.add_argument("--repeats", type=int, default=20, help="timed repetitions (median reported)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--profile", action="store_true", help="print a torch.profiler table of 5 steps")
    p.add_argument(
        "--group",
        type=int,
        nargs="*",
        default=[],
        metavar="G",
        help="also time groups of G runs trained together (per-run step; pnnlib.train.group)",
    )
    p.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark for parsed ``args`` (see :func:`add_arguments`), print and save it."""
    res = measure(
        args.batch, args.steps, args.offset, args.device, args.repeats, args.threads, args.profile, args.group
    )
    print(report(res), flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        rows = [{k: v for k, v in r.items() if k != "profile"} for r in res["results"]]
        args.json.write_text(json.dumps({**res, "results": rows}, indent=1))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pnnlib.bench.train_step ...`` (the same as ``python -m pnnlib.bench train-step``)."""
    return standalone_main(NAME, HELP, add_arguments, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
