r"""DSTD efficiency: paper Fig. 3c–f and Table 1 (paper-spec §2.6, §5), and the ``dstd``
subcommand of ``python -m pnnlib.bench`` (which also runs the error study of
:mod:`pnnlib.bench.dstd_error` on request).

* :func:`efficiency` — Fig. 3c–f: time per training epoch and peak memory of one layer of
  1000 neurons (1000 samples, batch 100) with and without DSTD as the number of input spikes
  grows, for RC-Spike (M = 10) and TTFS (M = 20), plus a torchdiffeq ODE-solver baseline for
  RC-Spike. Each configuration is measured in fresh child processes (one for time, one for
  memory) so that CPU peak-RSS figures are not polluted by earlier configurations.

Set-up choices (the paper is silent; all are arguments):

* Efficiency task: |E| = 4 for both models (TTFS needs E⁺ > V_th = 1). RC-Spike weights
  :math:`w\sim\mathcal N(0, 1/N_{in})`. TTFS weights :math:`w\sim\mathcal N(3/N_{in}, 9/N_{in}^2)`,
  so that the total drive :math:`\sum_j w_{ij}\approx3` and the total conductance
  :math:`\sum_j|w_{ij}|/|E|\approx0.9` do not depend on N_in: :math:`g/f\approx3.4>V_{th}` and
  nearly every neuron fires at every N_in (with a std ∝ 1/√N_in instead, Σ|w| would grow like
  √N_in and most neurons would stay silent beyond ~1000 inputs). Loss: mean squared
  error of the output spike times to a constant target (0.5 for RC-Spike, after the firing-phase
  readout :math:`t=\mathrm{clip}(1-v(1))`; 1.0 for TTFS, over neurons that fire), Adam
  (lr 1e-3), float32. DSTD uses a fresh random offset per mini-batch (as in training); TTFS DSTD
  uses the library's grid span ``t_max = 4``. Only weight gradients are needed (the input
  times are data), which is also all the ODE baseline can give (:mod:`pnnlib.bench.ode`).
* ODE baseline: adaptive ``dopri5`` with rtol 1e-3, atol 1e-5, whose error in v(1) (≈ 2e-3) is
  comparable to DSTD's at M = 10 (≈ 1e-3); one timed batch, one repetition, N_in ≤ 300 by
  default (it is ~40× slower than DSTD).

Measurement (:func:`measure_config`): time per epoch = the minimum wall-clock time over
``repeats`` epochs (median also reported), after a warm-up step, and the process CPU time of the
fastest epoch (``epoch_cpu_s``; steadier than wall-clock time on a shared CPU, see
:func:`~pnnlib.bench.harness.time_call`); with ``max_batches`` only the first batches are timed
and the times are scaled to the epoch. Memory: see :mod:`pnnlib.bench.memory` (CUDA peak;
CPU peak-RSS increase of one training step in a fresh child; saved-for-backward bytes).
Configurations whose predicted peak exceeds the memory budget (:func:`predict_peak_bytes`) are
skipped and reported as such, never run.

This module is long (~570 lines) on purpose: the benchmark's configurations, child-process
measurements, memory prediction, ratios and CLI share one set-up (:class:`EffConfig`).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from pnnlib.bench.complexity import complexity_table, write_table
from pnnlib.bench.dstd_error import ERR_E, ERR_STEPS, error_slopes, error_vs_grid, random_layer
from pnnlib.bench.harness import (
    add_common_arguments,
    format_table,
    resolve_device,
    run_child,
    source_state,
    synchronize,
    time_call,
)
from pnnlib.bench.memory import (
    MEASURE_ENV,
    cuda_peak_bytes,
    reset_peak_rss,
    rss_status,
    saved_tensor_bytes,
    trim_heap,
)
from pnnlib.bench.ode import rcspike_ode
from pnnlib.core.dstd import rcspike_dstd, ttfs_dstd
from pnnlib.core.neuron import rcspike_exact, rcspike_fire_time, ttfs_exact
from pnnlib.io import write_json_atomic

__all__ = [
    "EffConfig",
    "all_ratios",
    "efficiency",
    "measure_config",
    "predict_peak_bytes",
    "ratios",
    "summary",
]

NAME = "dstd"
HELP = "DSTD efficiency (paper Fig. 3c-f, Table 1) and optionally its error scaling (Fig. 3a, b)"

MODELS = ("rcspike", "ttfs")
METHODS = ("exact", "exact-recursion", "dstd", "ode", "ode-adjoint")
ODE_METHODS = ("ode", "ode-adjoint")
#: DSTD grid sizes of paper Fig. 3c-f.
PAPER_STEPS = {"rcspike": 10, "ttfs": 20}
#: Loss targets of the efficiency task (output spike times).
TARGET = {"rcspike": 0.5, "ttfs": 1.0}
#: Weight statistics of the efficiency task: (mean × N_in, std × N_in^p, p); see the module docstring.
WEIGHT_STATS = {"rcspike": (0.0, 1.0, 0.5), "ttfs": (3.0, 3.0, 1.0)}
#: Peak training memory over saved-for-backward bytes used to predict whether a configuration
#: fits the memory budget (measured ≈ 1.6 for the exact RC-Spike layer on CPU; rounded up).
PEAK_OVER_SAVED = 1.75
PROBE_SPIKES = 100


# --------------------------------------------------------------------------- Fig. 3c-f


@dataclass(frozen=True)
class EffConfig:
    """One efficiency configuration (paper Fig. 3c-f; defaults = the paper's set-up).

    ``method``: ``exact`` (:func:`~pnnlib.core.neuron.rcspike_exact` scan form /
    :func:`~pnnlib.core.neuron.ttfs_exact`), ``exact-recursion`` (RC-Spike, paper Eq. 33 loop),
    ``dstd``, ``ode`` / ``ode-adjoint`` (RC-Spike, :mod:`pnnlib.bench.ode`).
    ``max_batches`` times only the first batches of an epoch (all batches have the same shape
    and work) and scales the time to the full epoch; ``None`` times the whole epoch.
    """

    model: str
    method: str
    n_in: int
    n_out: int = 1000
    n_samples: int = 1000
    batch_size: int = 100
    steps: int = 10
    e_rev: float = 4.0
    repeats: int = 3
    max_batches: int | None = None
    err_samples: int = 10
    ode_solver: str = "dopri5"
    ode_rtol: float = 1e-3
    ode_atol: float = 1e-5
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.model == "ttfs" and self.method not in ("exact", "dstd"):
            raise ValueError(f"method {self.method!r} is only implemented for RC-Spike")

    @property
    def n_batches(self) -> int:
        """Mini-batches per epoch."""
        return math.ceil(self.n_samples / self.batch_size)


def _forward(cfg: EffConfig) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``(t_batch, weight) -> output`` [B, N_out]: v(1) for RC-Spike, firing times for TTFS."""
    e = cfg.e_rev
    if cfg.model == "ttfs":
        if cfg.method == "exact":
            return lambda t, w: ttfs_exact(t, w, e, -e, check=False)
        return lambda t, w: ttfs_dstd(t, w, e, -e, cfg.steps, None, check=False)
    if cfg.method in ("exact", "exact-recursion"):
        how = "scan" if cfg.method == "exact" else "recursion"
        return lambda t, w: rcspike_exact(t, w, e, -e, method=how, check=False)
    if cfg.method == "dstd":
        return lambda t, w: rcspike_dstd(t, w, e, -e, cfg.steps, None, check=False)
    adjoint = cfg.method == "ode-adjoint"

    def ode(t: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        v, field = rcspike_ode(
            t, w, e, -e, adjoint=adjoint, method=cfg.ode_solver, rtol=cfg.ode_rtol, atol=cfg.ode_atol
        )
        ode.nfe += field.nfe  # forward evaluations (adjoint ones are counted after backward)
        return v

    ode.nfe = 0
    return ode


def _loss(cfg: EffConfig, out: torch.Tensor) -> torch.Tensor:
    """MSE of output spike times to ``TARGET[model]`` (TTFS: over firing neurons only)."""
    target = TARGET[cfg.model]
    if cfg.model == "rcspike":
        return ((rcspike_fire_time(out) - target) ** 2).mean()
    fired = torch.isfinite(out)
    sq = torch.where(fired, out - target, torch.zeros_like(out)) ** 2
    return sq.sum() / fired.sum().clamp(min=1)


def _setup(cfg: EffConfig):
    device = resolve_device(cfg.device)
    mean, std, power = WEIGHT_STATS[cfg.model]
    t_all, w0 = random_layer(
        cfg.n_samples,
        cfg.n_in,
        cfg.n_out,
        w_mean=mean,
        w_scale=std * cfg.n_in ** (0.5 - power),
        seed=cfg.seed,
        dtype=torch.float32,
        device=device,
    )
    weight = torch.nn.Parameter(w0)
    opt = torch.optim.Adam([weight], lr=1e-3)
    forward = _forward(cfg)
    torch.manual_seed(cfg.seed)  # DSTD offsets

    def step(t: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        _loss(cfg, forward(t, weight)).backward()
        opt.step()

    batches = t_all.split(cfg.batch_size)
    return device, weight, forward, step, batches


def measure_config(cfg: EffConfig, phase: str = "time") -> dict[str, Any]:
    """Measure one configuration in this process (the CLI runs each phase in a fresh child).

    ``phase="time"``: one warm-up step on two samples, then ``repeats`` epochs (or
    ``max_batches`` batches scaled to an epoch) of forward + backward + Adam step; also the
    saved-for-backward bytes of one batch, the CUDA peak of one step (on CUDA), the ODE
    function evaluations, and the error of the output against the exact solution on
    ``err_samples`` samples at the initial weights (non-exact methods; the timed Adam steps
    move the small weights a lot, which would make the error depend on the timing run).

    ``phase="memory"``: after a warm-up step, the peak RSS increase of one training step
    (see :mod:`pnnlib.bench.memory`).
    """
    device, weight, forward, step, batches = _setup(cfg)
    w_init = weight.detach().clone()
    step(batches[0][:2])  # warm-up: lazy initialisation, Adam state
    synchronize(device)
    if phase == "memory":
        gc.collect()
        trim_heap()
        base, _ = rss_status()
        reset_ok = reset_peak_rss()
        step(batches[0])
        _, peak = rss_status()
        return {"peak_rss_bytes": max(0, peak - base), "rss_reset": reset_ok, "base_rss_bytes": base}
    if phase != "time":
        raise ValueError(f"phase must be 'time' or 'memory', got {phase!r}")
    timed = batches[: cfg.max_batches] if cfg.max_batches else batches
    repeats = 1 if cfg.method in ODE_METHODS else cfg.repeats

    def epoch() -> None:
        for t in timed:
            step(t)

    nfe0 = getattr(forward, "nfe", 0)
    wall, cpu = time_call(epoch, device, repeats)
    scale = cfg.n_batches / len(timed)
    epochs = [s * scale for s in wall]
    res: dict[str, Any] = {
        "epoch_s": min(epochs),
        "epoch_s_median": statistics.median(epochs),
        "epoch_s_all": epochs,
        "epoch_cpu_s": min(cpu) * scale,
        "batch_s": min(wall) / len(timed),
        "timed_batches": len(timed),
        "timed_repeats": repeats,
    }
    if cfg.method in ODE_METHODS:
        res["nfe_fwd_per_batch"] = (forward.nfe - nfe0) / (len(timed) * repeats)
    res["saved_bytes"] = saved_tensor_bytes(lambda: _loss(cfg, forward(batches[0], weight)))
    if device.type == "cuda":
        res["cuda_peak_bytes"] = cuda_peak_bytes(lambda: step(batches[0]), device)
    if cfg.method not in ("exact", "exact-recursion"):
        res["err"] = _output_error(cfg, forward, w_init, batches[0][: cfg.err_samples])
    return res


def _output_error(cfg: EffConfig, forward, weight: torch.Tensor, t: torch.Tensor) -> float:
    """Mean |output − exact output| (v(1) for RC-Spike; firing time where both fire, TTFS)."""
    with torch.no_grad():
        out = forward(t, weight)
        ref = _forward(replace(cfg, method="exact"))(t, weight)
    both = torch.isfinite(out) & torch.isfinite(ref)
    return float((out - ref)[both].abs().mean()) if both.any() else math.nan


def predict_peak_bytes(cfg: EffConfig) -> int:
    """Predicted peak training memory of ``cfg`` (bytes), without running it.

    The saved-for-backward bytes of one batch are measured at ``PROBE_SPIKES`` and twice that
    many inputs and extrapolated affinely in N_in (both layers keep O(N_in) per neuron,
    paper-spec §2.1, on top of an N_in-independent part: the DSTD tensors of shape
    [B, M, N_out]), then multiplied by ``PEAK_OVER_SAVED``. Small configurations are measured
    directly.
    """

    def saved_at(n_in: int) -> int:
        probe = replace(cfg, n_in=n_in, n_samples=cfg.batch_size)
        _, weight, forward, _, batches = _setup(probe)
        return saved_tensor_bytes(lambda: _loss(probe, forward(batches[0], weight)))

    n1, n2 = PROBE_SPIKES, 2 * PROBE_SPIKES
    if cfg.n_in <= n2:
        return int(saved_at(cfg.n_in) * PEAK_OVER_SAVED)
    s1, s2 = saved_at(n1), saved_at(n2)
    return int((s2 + (s2 - s1) * (cfg.n_in - n2) / (n2 - n1)) * PEAK_OVER_SAVED)


def efficiency(
    spike_counts: Sequence[int],
    *,
    models: Sequence[str] = MODELS,
    methods: Sequence[str] = ("exact", "dstd", "ode", "ode-adjoint"),
    steps: dict[str, int] | None = None,
    ode_max_spikes: int = 300,
    ode_max_batches: int = 1,
    mem_budget_gb: float = 6.5,
    isolate: bool = True,
    progress: Callable[[str], None] | None = None,
    **config: Any,
) -> dict[str, Any]:
    """Fig. 3c-f sweep: every (model, method, N_in) configuration, measured or skipped.

    Args:
        spike_counts: numbers of input spikes N_in.
        models, methods: which to run (ODE methods only for RC-Spike and only up to
            ``ode_max_spikes`` inputs, timing ``ode_max_batches`` batches, one repetition —
            the solver is orders of magnitude slower).
        steps: DSTD M per model (default :data:`PAPER_STEPS`: RC-Spike 10, TTFS 20).
        mem_budget_gb: skip configurations whose :func:`predict_peak_bytes` exceeds this.
        isolate: measure in fresh child processes (needed for meaningful CPU peak RSS);
            ``False`` measures in this process (tests, quick looks).
        progress: called with one line per configuration.
        **config: further :class:`EffConfig` fields (``n_out``, ``n_samples``, ``batch_size``,
            ``repeats``, ``max_batches``, ``device``, ``e_rev``, ``seed``, ODE settings).

    Returns:
        ``{"rows": [...], "settings": {...}}``; each row holds the configuration, its time and
        memory figures (or ``skipped`` with the reason).
    """
    steps = {**PAPER_STEPS, **(steps or {})}
    config = {**config, "device": str(resolve_device(config.get("device", "auto")))}
    rows = []
    for model in models:
        for method in methods:
            if model == "ttfs" and method not in ("exact", "dstd"):
                continue
            for n_in in spike_counts:
                cfg = EffConfig(model=model, method=method, n_in=int(n_in), steps=steps[model], **config)
                if method in ODE_METHODS:
                    if n_in > ode_max_spikes:
                        continue
                    cfg = replace(cfg, max_batches=ode_max_batches)
                row: dict[str, Any] = asdict(cfg)
                row["steps"] = cfg.steps if method == "dstd" else None
                if method not in ODE_METHODS:
                    pred = predict_peak_bytes(cfg)
                    row["predicted_peak_bytes"] = pred
                    if pred > mem_budget_gb * 2**30:
                        row["skipped"] = f"predicted peak {pred / 2**30:.1f} GiB > budget {mem_budget_gb} GiB"
                        rows.append(row)
                        if progress:
                            progress(f"{model:8s} {method:12s} N_in={n_in:5d}: {row['skipped']}")
                        continue
                row.update(_measure(cfg, isolate))
                rows.append(row)
                if progress:
                    progress(
                        f"{model:8s} {method:12s} N_in={n_in:5d}: epoch {row['epoch_s']:.3g} s, "
                        f"peak {row['peak_rss_bytes'] / 2**20:.4g} MiB, "
                        f"saved {row['saved_bytes'] / 2**20:.4g} MiB"
                    )
    return {
        "rows": rows,
        "settings": {
            "spike_counts": [int(n) for n in spike_counts],
            "models": list(models),
            "methods": list(methods),
            "steps": steps,
            "ode_max_spikes": ode_max_spikes,
            "ode_max_batches": ode_max_batches,
            "mem_budget_gb": mem_budget_gb,
            "isolate": isolate,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "source": source_state(),
            **config,
        },
    }


def _measure(cfg: EffConfig, isolate: bool) -> dict[str, Any]:
    if not isolate:
        return {**measure_config(cfg, "time"), **measure_config(cfg, "memory"), "isolated": False}
    args = ["dstd", "--one-config", json.dumps(asdict(cfg))]
    timing = run_child([*args, "--phase", "time"])
    memory = run_child([*args, "--phase", "memory"], env=MEASURE_ENV)
    return {**timing, **memory, "isolated": True}


def ratios(rows: Sequence[dict[str, Any]], *, baseline: str = "exact", method: str = "dstd") -> list[dict[str, Any]]:
    """Baseline-over-``method`` ratios (time, peak memory, saved bytes) per model and N_in.

    E.g. ``time_ratio = 30`` means ``method`` trains 30× faster than ``baseline``. Only
    (model, N_in) pairs where both were measured appear.
    """
    done = {(r["model"], r["method"], r["n_in"]): r for r in rows if "skipped" not in r}
    out = []
    for (model, meth, n_in), b in sorted(done.items()):
        if meth != baseline or (model, method, n_in) not in done:
            continue
        d = done[(model, method, n_in)]
        entry: dict[str, Any] = {"model": model, "n_in": n_in, "baseline": baseline, "method": method}
        for key, name in (
            ("epoch_s", "time_ratio"),
            ("epoch_cpu_s", "cpu_time_ratio"),
            ("peak_rss_bytes", "peak_rss_ratio"),
            ("cuda_peak_bytes", "cuda_peak_ratio"),
            ("saved_bytes", "saved_ratio"),
        ):
            if b.get(key) and d.get(key):
                entry[name] = b[key] / d[key]
        out.append(entry)
    return out


def summary(eff: dict[str, Any], ratio_rows: Sequence[dict[str, Any]], *, n_in: int = 1000) -> dict[str, Any]:
    """Headline numbers for reports: per model, the exact/DSTD ratios at ``n_in`` input spikes
    (or at the measured N_in nearest to it, which is reported), and per ODE method the largest
    measured configuration with its ratio to DSTD, NFE and error."""
    out: dict[str, Any] = {}
    for model in MODELS:
        rat = [r for r in ratio_rows if r["model"] == model and r["baseline"] == "exact" and r["method"] == "dstd"]
        if rat:
            best = min(rat, key=lambda r: (abs(math.log(r["n_in"] / n_in)), -r["n_in"]))
            out[model] = {k: v for k, v in best.items() if k not in ("model", "baseline", "method")}
    for method in ODE_METHODS:
        done = [r for r in eff["rows"] if r["method"] == method and "skipped" not in r]
        if not done:
            continue
        row = max(done, key=lambda r: r["n_in"])
        rat = next((r for r in ratio_rows if r["baseline"] == method and r["n_in"] == row["n_in"]), {})
        out[method] = {
            "n_in": row["n_in"],
            "epoch_s": row["epoch_s"],
            "peak_rss_bytes": row.get("peak_rss_bytes"),
            "saved_bytes": row.get("saved_bytes"),
            "nfe_fwd_per_batch": row.get("nfe_fwd_per_batch"),
            "err": row.get("err"),
            "time_ratio_vs_dstd": rat.get("time_ratio"),
            "peak_rss_ratio_vs_dstd": rat.get("peak_rss_ratio"),
            "saved_ratio_vs_dstd": rat.get("saved_ratio"),
        }
    return out


def all_ratios(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`ratios` of exact and of both ODE baselines over DSTD."""
    return [r for base in ("exact", *ODE_METHODS) for r in ratios(rows, baseline=base)]


# --------------------------------------------------------------------------- CLI

_COLUMNS = [
    ("model", "model"),
    ("method", "method"),
    ("steps", "M"),
    ("n_in", "N_in"),
    ("epoch_s", "epoch[s]"),
    ("epoch_s_median", "median[s]"),
    ("epoch_cpu_s", "cpu[s]"),
    ("peak_mib", "peakRSS[MiB]"),
    ("cuda_mib", "cudaPeak[MiB]"),
    ("saved_mib", "saved[MiB]"),
    ("err", "err"),
    ("nfe_fwd_per_batch", "NFE"),
    ("skipped", "note"),
]
_RATIO_COLUMNS = [
    ("model", "model"),
    ("n_in", "N_in"),
    ("baseline", "baseline"),
    ("method", "vs"),
    ("time_ratio", "time x"),
    ("cpu_time_ratio", "cpu x"),
    ("peak_rss_ratio", "peakRSS x"),
    ("cuda_peak_ratio", "cudaPeak x"),
    ("saved_ratio", "saved x"),
]


def _mib(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        r = dict(r)
        for key, name in (
            ("peak_rss_bytes", "peak_mib"),
            ("cuda_peak_bytes", "cuda_mib"),
            ("saved_bytes", "saved_mib"),
        ):
            if r.get(key) is not None:
                r[name] = r[key] / 2**20
        out.append(r)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``python -m pnnlib.bench dstd``."""
    add_common_arguments(parser)
    parser.add_argument(
        "--spikes",
        type=int,
        nargs="+",
        default=None,
        help="numbers of input spikes N_in (default 100 300 1000 3000 6000; quick 100 300)",
    )
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=["exact", "dstd", "ode", "ode-adjoint"])
    parser.add_argument("--steps-rcspike", type=int, default=PAPER_STEPS["rcspike"], help="DSTD M, RC-Spike")
    parser.add_argument("--steps-ttfs", type=int, default=PAPER_STEPS["ttfs"], help="DSTD M, TTFS")
    parser.add_argument("--n-out", type=int, default=1000, help="neurons in the layer (default 1000)")
    parser.add_argument("--n-samples", type=int, default=None, help="samples per epoch (default 1000; quick 200)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--e-rev", type=float, default=4.0, help="|E±| (default 4)")
    parser.add_argument(
        "--max-batches",
        type=int,
        default=None,
        help="time only this many batches per epoch and scale (default: whole epoch)",
    )
    parser.add_argument(
        "--mem-budget-gb", type=float, default=6.5, help="skip configurations predicted to need more (default 6.5)"
    )
    parser.add_argument(
        "--ode-max-spikes", type=int, default=None, help="largest N_in for the ODE baseline (default 300; quick 100)"
    )
    parser.add_argument("--ode-batches", type=int, default=1, help="batches timed for the ODE baseline")
    parser.add_argument("--ode-solver", default="dopri5")
    parser.add_argument("--ode-rtol", type=float, default=1e-3)
    parser.add_argument("--ode-atol", type=float, default=1e-5)
    parser.add_argument("--no-isolate", action="store_true", help="measure in this process")
    parser.add_argument("--table-dir", type=Path, default=None, help="write table1.csv/.md here")
    parser.add_argument("--errors", action="store_true", help="also run the Fig. 3a, b error sweep")
    parser.add_argument("--one-config", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--phase", default="time", choices=("time", "memory"), help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """Entry point of the ``dstd`` subcommand."""
    if args.one_config is not None:  # child process: one configuration, one JSON line
        print(json.dumps(measure_config(EffConfig(**json.loads(args.one_config)), args.phase)))
        return 0
    quick = args.quick
    spikes = args.spikes or ([100, 300] if quick else [100, 300, 1000, 3000, 6000])
    eff = efficiency(
        spikes,
        models=args.models,
        methods=args.methods,
        steps={"rcspike": args.steps_rcspike, "ttfs": args.steps_ttfs},
        ode_max_spikes=args.ode_max_spikes or (100 if quick else 300),
        ode_max_batches=args.ode_batches,
        mem_budget_gb=args.mem_budget_gb,
        isolate=not args.no_isolate,
        progress=lambda line: print(line, flush=True),
        n_out=args.n_out,
        n_samples=args.n_samples or (200 if quick else 1000),
        batch_size=args.batch_size,
        e_rev=args.e_rev,
        repeats=1 if quick else args.repeats,
        max_batches=args.max_batches,
        ode_solver=args.ode_solver,
        ode_rtol=args.ode_rtol,
        ode_atol=args.ode_atol,
        seed=args.seed,
        device=args.device,
    )
    result: dict[str, Any] = {"efficiency": eff}
    print()
    print(format_table(_mib(eff["rows"]), _COLUMNS))
    rat = all_ratios(eff["rows"])
    result["ratios"] = rat
    result["summary"] = summary(eff, rat)
    print()
    print(format_table(rat, _RATIO_COLUMNS))
    table = complexity_table(eff["rows"])
    result["table1"] = table
    if args.table_dir is not None:
        write_table(table, args.table_dir)
    if args.errors:
        err = error_vs_grid(ERR_STEPS, ERR_E, n_samples=50 if quick else 1000, seed=args.seed, device=args.device)
        slopes = error_slopes(err)
        result["errors"] = {**err, "slopes": slopes}
        print(
            f"\nerror slopes: vs M {slopes['mean_slope_vs_m']:.3f} (theory -2), "
            f"vs |E| {slopes['mean_slope_vs_e']:.3f} (theory -1)"
        )
    if args.json is not None:
        write_json_atomic(args.json, result)
        print(f"wrote {args.json}")
    return 0
