r"""Grid-parallel training: G runs of one architecture trained together as one stacked network.

Runs that share the architecture, the dataset and its subsets, M, the batch size and the epochs
but differ in |E|, E_dis, σ_spike, the offset mode, the seed, the initialisation, the learning rate
or the cost weights (:data:`GROUP_KEYS` says which keys must agree) are trained by one process:
every step runs the G networks as one :class:`~pnnlib.nn.group.GroupNetwork` (dense layers as
batched matmuls, conv layers as grouped convolutions, :mod:`pnnlib.core.dstd_group`), so a GPU
sees few large kernels instead of many small ones. Each run keeps everything it has alone:

* its own network (parameters, specs) and generators (:class:`~pnnlib.train.rng.RunGenerators`):
  initial weights, data order and augmentation, DSTD offsets and spike noise are drawn from the
  run's streams exactly as alone;
* its own cost (paper Eqs. 49–53 with its own τ_soft, γ's and t_ref; the group minimises the sum
  of the runs' costs, whose gradient in each run's weights is that run's gradient) and its own
  Adam state (one :class:`torch.optim.Adam` over all runs, a parameter group per learning rate;
  Adam is elementwise, so this is each run's Adam);
* its own run directory, written as :func:`pnnlib.train.train` writes it (``config.yaml``,
  ``checkpoint.pt`` after every epoch in the single-run format, ``metrics.json``, and at the end
  ``weights.pt`` and ``spike_hist.npz`` by :func:`~pnnlib.train.train` itself, which finds the
  finished checkpoint and only evaluates). A run can start in a group and resume alone, or the
  other way round; runs of a group at different epochs (a kill between two runs' checkpoints)
  train in separate passes from their own epochs.

So a run trained in a group ends with the metrics of the same run trained alone, up to the
rounding of the batched products (float tolerance; ``tests/test_group.py``). Evaluations run
per run (:func:`~pnnlib.train.evaluate`, the run's own evaluation generator). ``wall_s`` of an
epoch is the group's wall time for that epoch.

Entry points: :func:`group_plan` (which runs of a plan share a group; deterministic group ids),
:func:`train_group` and ``python -m pnnlib.train.group`` (see :func:`main`).

This module is long (~460 lines) on purpose: the group's cost, optimiser, CUDA-graph step, epoch loop
and CLI must agree on one stacked layout of G runs, which is easier to check in one place.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from pnnlib import data as data_mod
from pnnlib.core.dstd_group import run_constant
from pnnlib.nn.group import GroupNetwork
from pnnlib.nn.networks import SpikeNetwork
from pnnlib.train.config import TrainConfig, load_yaml
from pnnlib.train.evaluation import evaluate
from pnnlib.train.loop import _base_metrics, _claim_run_dir, _end_epoch, _open_run_dir, _resume, train
from pnnlib.train.losses import _finite_times, early_spike_penalty, last_t_max, q_penalty, weight_penalty
from pnnlib.train.models import build_model, flat_input, resolve_device
from pnnlib.train.rng import RunGenerators

__all__ = [
    "GROUP_KEYS",
    "GraphedGroupStep",
    "GroupAdam",
    "group_cost",
    "group_key",
    "group_plan",
    "group_step",
    "main",
    "train_group",
]

log = logging.getLogger("pnnlib.train")

GROUP_KEYS = (
    "model",
    "hidden",
    "width",
    "n_outputs",
    "extra_outputs",
    "dataset",
    "data_dir",
    "download",
    "train_subset",
    "test_subset",
    "steps",
    "batch",
    "epochs",
    "t_max",
    "exact",
    "device",
    "kernel",
)
""":class:`~pnnlib.train.TrainConfig` keys that must agree within a group (the stacked network,
the data and the step count). ``exact`` runs are never grouped (each is a group of one)."""


def group_key(cfg: TrainConfig) -> tuple[Any, ...]:
    """The values of :data:`GROUP_KEYS` (plus the run itself for an ``exact`` run)."""
    key = tuple(json.dumps(getattr(cfg, k)) for k in GROUP_KEYS)
    return key + ((json.dumps(cfg.to_dict(), sort_keys=True),) if cfg.exact else ())


def group_plan(plan: Mapping[str, TrainConfig], max_size: int) -> dict[str, list[str]]:
    """``{group id: [run id, ...]}``: the runs of ``plan`` that can share a group (same
    :func:`group_key`), in groups of at most ``max_size`` runs.

    Runs of one key are sorted by run id and cut into the fewest groups of at most ``max_size``,
    as equal in size as possible. A group's id is ``<model>-m<M>-b<B>-<hash of its run ids>``, so
    it depends only on its members: the same plan gives the same groups, and a change to the plan
    changes only the ids of the groups whose members change. Every run is in exactly one group.
    """
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
        raise ValueError(f"max_size must be an int >= 1, got {max_size!r}")
    by_key: dict[tuple[Any, ...], list[str]] = {}
    for rid in sorted(plan):
        by_key.setdefault(group_key(plan[rid]), []).append(rid)
    groups: dict[str, list[str]] = {}
    for rids in by_key.values():
        n_groups = -(-len(rids) // max_size)
        size, extra = divmod(len(rids), n_groups)
        start = 0
        for i in range(n_groups):
            members = rids[start : start + size + (i < extra)]
            start += len(members)
            cfg = plan[members[0]]
            digest = hashlib.sha1("\n".join(members).encode()).hexdigest()[:10]
            groups[f"{cfg.model}-m{cfg.steps}-b{cfg.batch}-{digest}"] = members
    return dict(sorted(groups.items()))


# --------------------------------------------------------------------------- one group's pieces


def group_cost(
    gnet: GroupNetwork, x: torch.Tensor, labels: torch.Tensor, cfgs: Sequence[TrainConfig], n_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward pass and every run's cost of :func:`pnnlib.train.cost` (its own τ_soft, γ₁, t_ref,
    γ₂, γ_W, γ_V) for one stacked batch; ``labels`` ``[G, B]``.

    Returns ``(C [G], finite output times [G, B, N_out])``.
    """
    g = gnet.size
    pairs = gnet.forward_pairs(x)
    t_max = last_t_max(gnet.nets[0])
    t_out = _finite_times(pairs[-1][2], t_max)

    def per_run(values: Sequence[float]) -> torch.Tensor:
        return run_constant(values, t_out).view(g, 1, 1)

    logits = -t_out / per_run([c.tau_soft for c in cfgs])
    if cfgs[0].extra_outputs == "exclude":
        logits = logits[:, :, :n_classes]
    c = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none").view(g, -1).mean(1)
    if any(cfg.gamma1 for cfg in cfgs):
        temp = ((t_out - per_run([cfg.t_ref for cfg in cfgs])) ** 2).sum(2).mean(1)
        c = c + per_run([cfg.gamma1 for cfg in cfgs]).flatten() * temp
    if any(cfg.gamma2 or cfg.gamma_w or cfg.gamma_v for cfg in cfgs):
        views = [(layer.members, layer.members_view(t_in), layer.members_view(t_o)) for layer, t_in, t_o in pairs]
        extra = []
        for r, (cfg, net) in enumerate(zip(cfgs, gnet.nets)):
            terms = torch.zeros((), dtype=t_out.dtype, device=t_out.device)
            if cfg.gamma2:
                terms = terms + cfg.gamma2 * q_penalty([(ms[r], ins[r], outs[r]) for ms, ins, outs in views])
            if cfg.gamma_w:
                terms = terms + cfg.gamma_w * weight_penalty(net)
            if cfg.gamma_v:
                terms = terms + cfg.gamma_v * early_spike_penalty(
                    [_finite_times(outs[r], t_max) for _, _, outs in views]
                )
            extra.append(terms)
        c = c + torch.stack(extra)
    return c, t_out


def group_step(
    gnet: GroupNetwork,
    opt: GroupAdam,
    x: torch.Tensor,
    labels: torch.Tensor,
    cfgs: Sequence[TrainConfig],
    n_classes: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One training step of every run of the group: :func:`group_cost`, backward of the summed
    costs (each run's gradient is its own cost's), and the runs' Adam updates. Returns the detached
    ``(C [G], t_out [G, B, N_out])``."""
    c, t_out = group_cost(gnet, x, labels, cfgs, n_classes)
    opt.opt.zero_grad(set_to_none=True)
    c.sum().backward()
    opt.opt.step()
    return c.detach(), t_out.detach()


class GroupAdam:
    """One :class:`torch.optim.Adam` over the parameters of every run (a parameter group per learning
    rate), and each run's view of it with the single-run ``state_dict`` format. ``capturable``: Adam's
    step counts on the device, as a CUDA graph needs (:class:`GraphedGroupStep`)."""

    def __init__(self, nets: Sequence[SpikeNetwork], lrs: Sequence[float], capturable: bool = False) -> None:
        self.params = [list(net.parameters()) for net in nets]
        self.lrs = list(lrs)
        self.capturable = capturable
        by_lr: dict[float, list[torch.nn.Parameter]] = {}
        for ps, lr in zip(self.params, self.lrs):
            by_lr.setdefault(lr, []).extend(ps)
        self.opt = torch.optim.Adam([{"params": ps, "lr": lr} for lr, ps in by_lr.items()], capturable=capturable)

    def run(self, r: int) -> _RunAdam:
        """Run ``r``'s view (``state_dict`` / ``load_state_dict`` as its own Adam would have them)."""
        return _RunAdam(self, r)

    def _alone(self, r: int) -> torch.optim.Adam:
        return torch.optim.Adam(self.params[r], lr=self.lrs[r])


@dataclass
class _RunAdam:
    group: GroupAdam
    r: int

    def state_dict(self) -> dict[str, Any]:
        alone = self.group._alone(self.r)
        for p in self.group.params[self.r]:
            if p in self.group.opt.state:
                alone.state[p] = self.group.opt.state[p]
        return alone.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        alone = self.group._alone(self.r)
        alone.load_state_dict(state)
        for p in self.group.params[self.r]:
            if self.group.capturable and "step" in alone.state[p]:
                alone.state[p]["step"] = alone.state[p]["step"].to(p.device)
            self.group.opt.state[p] = alone.state[p]


class GraphedGroupStep:
    """:func:`group_step` captured once in a CUDA graph and replayed for every full batch (the launch
    overhead of a step: one graph launch instead of hundreds of kernels).

    Before the capture, two warm-up steps on a side stream set up Adam's state and the libraries'
    workspaces; the parameters, Adam's state and the runs' generators are then restored in place,
    so the warm-up leaves no trace in the training. The runs' generators are registered with the
    graph, so every replay draws fresh offsets and noise from each run's own stream. Needs a CUDA
    device, the ``triton`` kernels or the reference ones (both capture-safe: no host synchronisation,
    no host-to-device copies inside the step) and a :class:`GroupAdam` with ``capturable=True``.
    """

    def __init__(
        self,
        gnet: GroupNetwork,
        opt: GroupAdam,
        cfgs: Sequence[TrainConfig],
        n_classes: int,
        x: torch.Tensor,
        labels: torch.Tensor,
        generators: Sequence[torch.Generator],
    ) -> None:
        if x.device.type != "cuda":
            raise ValueError(f"a CUDA graph needs a CUDA device, the group trains on {x.device}")
        if not opt.capturable:
            raise ValueError("a CUDA graph needs GroupAdam(..., capturable=True)")
        self.x, self.labels = x.clone(), labels.clone()
        params = [p for ps in opt.params for p in ps]
        saved_params = [p.detach().clone() for p in params]
        saved_gens = [g.get_state() for g in generators]
        fresh = not opt.opt.state
        saved_state = {p: {k: v.clone() for k, v in opt.opt.state[p].items()} for p in params if p in opt.opt.state}
        side = torch.cuda.Stream(x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side):
            for _ in range(2):
                group_step(gnet, opt, self.x, self.labels, cfgs, n_classes)
        torch.cuda.current_stream(x.device).wait_stream(side)
        with torch.no_grad():
            for p, v in zip(params, saved_params):
                p.copy_(v)
            for p in params:
                for k, v in opt.opt.state[p].items():
                    v.zero_() if fresh else v.copy_(saved_state[p][k])
        self.graph = torch.cuda.CUDAGraph()
        for g in generators:
            self.graph.register_generator_state(g)
        opt.opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(self.graph):
            self.c, self.t_out = group_step(gnet, opt, self.x, self.labels, cfgs, n_classes)
        for g, state in zip(generators, saved_gens):
            g.set_state(state)

    def __call__(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One captured step on the batch ``(x, labels)`` (the captured shapes); returns ``(C, t_out)``."""
        self.x.copy_(x)
        self.labels.copy_(labels)
        self.graph.replay()
        return self.c, self.t_out


def _load_data(cfgs: Sequence[TrainConfig], device: torch.device) -> list[data_mod.SpikeData]:
    """Each run's data (its own subsets, seeded by its seed) on ``device``; runs whose tensors are
    equal share one copy."""
    datas: list[data_mod.SpikeData] = []
    on_device: dict[int, torch.Tensor] = {}

    def shared(t: torch.Tensor, previous: Sequence[torch.Tensor]) -> torch.Tensor:
        same = next((p for p in previous if p.shape == t.shape and torch.equal(p, t)), None)
        return t if same is None else same

    for cfg in cfgs:
        d = data_mod.load_dataset(
            cfg.dataset,
            train_subset=cfg.train_subset,
            test_subset=cfg.test_subset,
            seed=cfg.seed,
            root=cfg.data_dir,
            download=cfg.download,
        )
        d = replace(
            d,
            **{
                k: shared(getattr(d, k), [getattr(p, k) for p in datas])
                for k in ("train_t", "train_y", "test_t", "test_y")
            },
        )
        datas.append(d)
    moved = []
    for d in datas:
        tensors = {
            k: on_device.setdefault(id(getattr(d, k)), getattr(d, k).to(device))
            for k in ("train_t", "train_y", "test_t", "test_y")
        }
        moved.append(replace(d, **tensors))
    return moved


@dataclass
class _Member:
    """One run of a group: its settings, directory, data, network, generators, history and the
    optimizer state of its checkpoint (``None`` for a fresh run)."""

    cfg: TrainConfig
    out: Path
    data: data_mod.SpikeData
    net: SpikeNetwork
    gens: RunGenerators
    history: list[dict[str, Any]] = field(default_factory=list)
    base: dict[str, Any] = field(default_factory=dict)
    opt_state: dict[str, Any] | None = None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Keep the checkpoint's optimizer state (the checkpoint loader treats the member as the optimizer)."""
        self.opt_state = state


def _check_compatible(cfgs: Sequence[TrainConfig]) -> None:
    for k in GROUP_KEYS:
        values = {json.dumps(getattr(c, k)) for c in cfgs}
        if len(values) > 1:
            raise ValueError(f"TrainConfig.{k} must agree within a group, got {sorted(values)}")
    if len(cfgs) > 1 and any(c.exact for c in cfgs):
        raise ValueError("TrainConfig.exact: exact runs are not grouped; train each alone")


def _train_epochs(members: Sequence[_Member], device: torch.device, cuda_graph: bool) -> None:
    """Train ``members`` (all after the same number of epochs) together to their last epoch, writing
    each run's checkpoint and running metrics after every epoch; full batches replay a
    :class:`GraphedGroupStep` with ``cuda_graph``."""
    cfgs = [m.cfg for m in members]
    cfg0 = cfgs[0]
    n_classes = members[0].data.n_classes
    gnet = GroupNetwork([m.net for m in members])
    opt = GroupAdam([m.net for m in members], [c.lr for c in cfgs], capturable=cuda_graph)
    graphed: GraphedGroupStep | None = None
    for r, m in enumerate(members):
        if m.opt_state is not None:
            opt.run(r).load_state_dict(m.opt_state)
    n = len(members[0].data.train_y)
    same_data = all(m.data.train_t is members[0].data.train_t for m in members) and members[0].data.augment is None
    for epoch in range(len(members[0].history) + 1, cfg0.epochs + 1):
        start = time.perf_counter()
        for m in members:
            m.net.train()
        perms = torch.stack([torch.randperm(n, generator=m.gens.shuffle) for m in members]).to(device)
        loss_sum = torch.zeros(len(members), dtype=torch.float64, device=device)
        correct = torch.zeros(len(members), dtype=torch.int64, device=device)
        for i in range(0, n, cfg0.batch):
            idx = perms[:, i : i + cfg0.batch]
            yb = torch.stack([m.data.train_y[ix] for m, ix in zip(members, idx)])
            if same_data:
                xs = list(members[0].data.train_t[idx].unbind(0))
            else:
                xs = [m.data.train_t[ix] for m, ix in zip(members, idx)]
                xs = [x if m.data.augment is None else m.data.augment(x, m.gens.shuffle) for m, x in zip(members, xs)]
            xb = gnet.stack_inputs([x.flatten(1) if flat_input(cfg0) else x for x in xs])
            if cuda_graph and yb.shape[1] == cfg0.batch:
                if graphed is None:
                    graphed = GraphedGroupStep(gnet, opt, cfgs, n_classes, xb, yb, [m.gens.draws for m in members])
                c, t_out = graphed(xb, yb)
            else:
                c, t_out = group_step(gnet, opt, xb, yb, cfgs, n_classes)
            loss_sum += c.double() * yb.shape[1]
            correct += (t_out[:, :, :n_classes].argmin(2) == yb).sum(1)
        rows = [
            {"epoch": epoch, "train_loss": ls / n, "train_acc": ok / n, "test_loss": None, "test_acc": None}
            for ls, ok in zip(loss_sum.tolist(), correct.tolist())
        ]
        for m, row in zip(members, rows):
            if m.cfg.eval_every and (epoch % m.cfg.eval_every == 0 or epoch == m.cfg.epochs):
                ev = evaluate(m.net, m.data.test_t, m.data.test_y, m.cfg, n_classes, key=f"epoch{epoch}")
                row.update(test_loss=ev["loss"], test_acc=ev["acc"])
        wall = time.perf_counter() - start
        for r, (m, row) in enumerate(zip(members, rows)):
            row["wall_s"] = wall
            m.history.append(row)
            _end_epoch(m.out, m.cfg, m.net, opt.run(r), m.gens, m.history, m.base)


def train_group(
    configs: Sequence[TrainConfig | dict[str, Any]], out_dirs: Sequence[str | Path], *, cuda_graph: bool = False
) -> list[dict[str, Any]]:
    """Train the runs ``configs[i]`` into ``out_dirs[i]`` as one group (see the module docstring);
    returns each run's metrics (as :func:`pnnlib.train.train` returns them). ``cuda_graph``: replay
    the training step from a CUDA graph (:class:`GraphedGroupStep`; CUDA only; Adam then keeps its
    step counts on the device, which rounds its bias correction in float32).

    Finished runs are read back; unfinished ones resume from their checkpoints (written alone or
    in a group). A group of one ``exact`` run is trained by :func:`~pnnlib.train.train`.

    Raises:
        ValueError: the runs disagree in a key of :data:`GROUP_KEYS`, two runs share a directory,
            or a run directory holds a different config.
    """
    cfgs = [c if isinstance(c, TrainConfig) else TrainConfig.from_dict(c) for c in configs]
    outs = [Path(o) for o in out_dirs]
    if len(cfgs) != len(outs) or not cfgs:
        raise ValueError(f"train_group needs one out_dir per config, got {len(cfgs)} configs and {len(outs)} dirs")
    if len({o.resolve() for o in outs}) != len(outs):
        raise ValueError("two runs of a group share an out_dir")
    _check_compatible(cfgs)
    if cfgs[0].exact:
        return [train(cfgs[0], outs[0])]
    if cuda_graph and resolve_device(cfgs[0].device).type != "cuda":
        raise ValueError("cuda_graph=True needs training on a CUDA device (TrainConfig.device)")
    todo = [i for i, (cfg, out) in enumerate(zip(cfgs, outs)) if _open_run_dir(cfg, out) is None]
    if todo:
        threads = [cfgs[i].num_threads for i in todo if cfgs[i].num_threads is not None]
        if threads:
            torch.set_num_threads(max(threads))
        device = resolve_device(cfgs[0].device)
        log.info("training a group of %d runs (%s on %s, device %s)", len(todo), cfgs[0].model, cfgs[0].dataset, device)
        datas = _load_data([cfgs[i] for i in todo], device)
        members = []
        for i, data in zip(todo, datas):
            gens = RunGenerators.seeded(cfgs[i].seed, device)
            net = build_model(cfgs[i], data.input_shape, data.n_classes, gens.init).to(device)
            net.set_generator(gens.draws)
            m = _Member(cfgs[i], outs[i], data, net, gens, base=_base_metrics(cfgs[i], device, data))
            m.history = _resume(m.out, m.cfg, net, m, gens)
            _claim_run_dir(m.cfg, m.out)
            members.append(m)
        for done in sorted({len(m.history) for m in members}):
            _train_epochs([m for m in members if len(m.history) == done], device, cuda_graph)
    # Final evaluations, histograms and weights: each run's own train(), which finds its last checkpoint.
    return [train(cfg, out) for cfg, out in zip(cfgs, outs)]


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``python -m pnnlib.train.group --plan plan.yaml --out-root results/mlp [--runs ID ...]
    [--group GID --max-size G] [--list --max-size G]``.

    ``plan.yaml`` maps run ids to :class:`~pnnlib.train.TrainConfig` mappings (missing keys take the
    defaults); each run is trained into ``<out-root>/<run id>``. ``--runs`` names the runs of one
    group (default: all runs of the plan, which must then be one group); ``--group`` picks a group
    of :func:`group_plan` with ``--max-size``; ``--list`` prints :func:`group_plan` as JSON and
    trains nothing. Returns ``{run id: metrics}`` (or the groups with ``--list``).
    """
    p = argparse.ArgumentParser(
        prog="python -m pnnlib.train.group", description="Train several runs of one architecture as one stacked group"
    )
    p.add_argument("--plan", type=Path, required=True, help="YAML/JSON mapping run id -> TrainConfig keys")
    p.add_argument("--out-root", type=Path, help="run directories are <out-root>/<run id>")
    p.add_argument("--runs", nargs="+", default=None, metavar="ID", help="run ids of one group (default: all)")
    p.add_argument("--group", default=None, metavar="GID", help="train this group of group_plan(plan, --max-size)")
    p.add_argument("--max-size", type=int, default=8, help="largest group for --group / --list (default 8)")
    p.add_argument("--list", action="store_true", help="print group_plan(plan, --max-size) as JSON and exit")
    p.add_argument("--cuda-graph", action="store_true", help="replay the training step from a CUDA graph")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    raw = load_yaml(args.plan.read_text()) or {}
    if not isinstance(raw, dict):
        p.error(f"--plan {args.plan} must hold a mapping of run ids to config mappings")
    plan = {str(rid): TrainConfig.from_dict(d or {}) for rid, d in raw.items()}
    if args.list:
        groups = group_plan(plan, args.max_size)
        print(json.dumps(groups, indent=1))
        return groups
    if args.out_root is None:
        p.error("--out-root is required unless --list is given")
    if args.group is not None and args.runs is not None:
        p.error("give --runs or --group, not both")
    if args.group is not None:
        groups = group_plan(plan, args.max_size)
        if args.group not in groups:
            p.error(f"no group {args.group!r} in group_plan(plan, {args.max_size}); known: {', '.join(groups)}")
        runs = groups[args.group]
    else:
        runs = args.runs if args.runs is not None else list(plan)
    unknown = [r for r in runs if r not in plan]
    if unknown:
        p.error(f"run ids not in the plan: {unknown}")
    metrics = train_group([plan[r] for r in runs], [args.out_root / r for r in runs], cuda_graph=args.cuda_graph)
    return dict(zip(runs, metrics))


if __name__ == "__main__":
    main()
