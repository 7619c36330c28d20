"""Grid-parallel training (pnnlib.train.group): a run trained in a group equals the same run alone."""

import json
import math

import numpy as np
import pytest
import torch

from pnnlib.core import dstd, dstd_group
from pnnlib.nn.networks import mlp
from pnnlib.train import TrainConfig, build_model, load_model, train
from pnnlib.train.group import group_plan, main, train_group
from pnnlib.train.rng import RunGenerators

MLP = dict(
    hidden=[32],
    train_subset=200,
    test_subset=100,
    steps=4,
    eval_steps=6,
    n_eval=2,
    epochs=1,
    lr=1e-3,
    hist_samples=50,
    progress=False,
    num_threads=1,
)
# |E|, offset mode, σ, seed, initialisation and learning rate differ between the runs.
MLP_RUNS = [
    dict(e_pos=4.0, seed=0),
    dict(e_pos=2.0, offset="fixed", sigma=0.0, seed=1, init_gain=0.7),
    dict(e_pos=1.5, sigma=0.02, seed=2, lr=2e-3),
]
VGG7 = dict(
    model="vgg7",
    width=0.0625,
    train_subset=40,
    test_subset=20,
    steps=3,
    eval_steps=4,
    n_eval=1,
    epochs=1,
    batch=8,
    hist_samples=10,
    progress=False,
    num_threads=1,
    init_gain=1.4,
    lr=1e-3,
)
VGG7_RUNS = [
    dict(e_pos=4.0, seed=0),
    dict(e_pos=2.0, offset="fixed", seed=1, e_dis=6.0),
    dict(e_pos=1.5, sigma=0.0, seed=2, gamma1=0.0),
]


def _numbers(m: dict) -> dict[str, float]:
    """The numbers of a run's metrics.json that a group must reproduce (not wall times), flat."""
    keys = ("train_loss", "train_acc", "test_loss", "test_acc")
    out = {f"{r['epoch']}.{k}": r[k] for r in m["history"] for k in keys}
    for k, v in m["final"].items():
        if k != "eval_offset":
            out.update({f"final.{k}{i}": x for i, x in enumerate(v)} if isinstance(v, list) else {f"final.{k}": v})
    return out


def _assert_same_run(a: dict, b: dict, rel: float = 1e-5) -> None:
    assert _numbers(a) == pytest.approx(_numbers(b), rel=rel, abs=1e-9)
    assert a["config"] == b["config"] and a["status"] == b["status"] == "done"
    assert a["final"]["eval_offset"] == b["final"]["eval_offset"]


def _assert_same_files(alone, grouped) -> None:
    for name in ("config.yaml", "metrics.json", "checkpoint.pt", "weights.pt", "spike_hist.npz"):
        assert (grouped / name).is_file(), name
    assert (alone / "config.yaml").read_text() == (grouped / "config.yaml").read_text()
    wa, wg = torch.load(alone / "weights.pt"), torch.load(grouped / "weights.pt")
    assert wa.keys() == wg.keys() and all(torch.allclose(wa[k], wg[k], rtol=1e-4, atol=1e-6) for k in wa)
    ca, cg = (torch.load(d / "checkpoint.pt", weights_only=True) for d in (alone, grouped))
    assert ca.keys() == cg.keys() and ca["rng"].keys() == cg["rng"].keys()
    assert all(torch.equal(ca["rng"][k], cg["rng"][k]) for k in ca["rng"]), "the run's streams must end alike"
    oa, og = ca["optimizer"], cg["optimizer"]
    assert oa["param_groups"] == og["param_groups"] and oa["state"].keys() == og["state"].keys()
    for i in oa["state"]:
        for k, v in oa["state"][i].items():
            assert torch.allclose(v, og["state"][i][k], rtol=1e-4, atol=1e-7), (i, k)
    ha, hg = np.load(alone / "spike_hist.npz"), np.load(grouped / "spike_hist.npz")
    assert ha.files == hg.files


# --------------------------------------------------------------------------- streams


def test_explicit_run_generators_draw_what_the_seeded_global_rng_drew() -> None:
    """The single-run path's numbers did not change when its draws moved to explicit generators."""
    cfg = TrainConfig(**{**MLP, "seed": 3})
    torch.manual_seed(3)
    old = build_model(cfg, (1, 28, 28), 10)
    x = torch.rand(5, 784, generator=torch.Generator().manual_seed(0))
    old_out = old(x)  # offsets and noise from the global generator, continuing after the init
    gens = RunGenerators.seeded(3, torch.device("cpu"))
    new = build_model(cfg, (1, 28, 28), 10, gens.init)
    new.set_generator(gens.draws)
    torch.manual_seed(99)  # the global stream no longer matters
    assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), new.state_dict().values()))
    assert torch.equal(old_out, new(x))


# --------------------------------------------------------------------------- the stacked core


def _grads(fn, *xs):
    xs = [x.clone().requires_grad_() for x in xs]
    out = fn(*xs)
    torch.where(torch.isinf(out), torch.zeros_like(out), out).mul(
        torch.linspace(0.5, 1.5, out.numel()).view_as(out)
    ).sum().backward()
    return out.detach(), [x.grad for x in xs]


@pytest.mark.parametrize("kind", ["rc_dense", "rc_conv", "ttfs_dense", "ttfs_conv"])
def test_group_dstd_equals_each_run_alone(kind: str, rng: torch.Generator) -> None:
    g, b, c, co = 3, 4, 2, 3
    e_pos, e_neg = [4.0, 2.0, 1.5], [-4.0, -1.0, -1.5]
    offsets = [None, 0.0, None]  # the fixed run gets a zero-width last interval in the group
    steps, t_max = (4, 1.0) if kind.startswith("rc") else (6, 4.0)
    conv = kind.endswith("conv")
    scale = 1.2 if kind.startswith("rc") else 3.0
    t = torch.rand((b, g * c, 6, 6) if conv else (g, b, 7), generator=rng) * scale - 0.05
    w = torch.randn((g, co, c, 3, 3) if conv else (g, 5, 7), generator=rng) * 0.5
    if kind.startswith("ttfs"):
        w = w.abs() * 2
        e_neg = [-e for e in e_pos]
    gens = [torch.Generator().manual_seed(10 + r) for r in range(g)]
    single = {
        "rc_dense": dstd.rcspike_dstd,
        "rc_conv": dstd.rcspike_dstd_conv2d,
        "ttfs_dense": dstd.ttfs_dstd,
        "ttfs_conv": dstd.ttfs_dstd_conv2d,
    }[kind]
    group = {
        "rc_dense": dstd_group.rcspike_dstd_group,
        "rc_conv": dstd_group.rcspike_dstd_conv2d_group,
        "ttfs_dense": dstd_group.ttfs_dstd_group,
        "ttfs_conv": dstd_group.ttfs_dstd_conv2d_group,
    }[kind]
    extra = {} if kind.startswith("rc") else {"t_max": t_max}
    kw = {"padding": 1} if conv else {}

    def run_view(x, r):
        return x[:, r * c : (r + 1) * c] if conv else x[r]

    def alone(t, w):
        outs = [
            single(run_view(t, r), w[r], e_pos[r], e_neg[r], steps, offsets[r], **extra, **kw, generator=gens[r])
            for r in range(g)
        ]
        return torch.cat(outs, 1) if conv else torch.stack(outs)

    out_a, (dt_a, dw_a) = _grads(alone, t, w)
    gens = [torch.Generator().manual_seed(10 + r) for r in range(g)]
    out_g, (dt_g, dw_g) = _grads(lambda t, w: group(t, w, e_pos, e_neg, steps, offsets, gens, **extra, **kw), t, w)
    assert torch.equal(torch.isinf(out_a), torch.isinf(out_g))
    for a, b_ in ((out_a, out_g), (dt_a, dt_g), (dw_a, dw_g)):
        assert torch.isfinite(b_[torch.isfinite(a)]).all()
        assert torch.allclose(a, b_, rtol=1e-5, atol=1e-5 * float(a[torch.isfinite(a)].abs().max())), kind
    assert float(dw_a.abs().max()) > 0 and float(dt_a.abs().max()) > 0


def test_group_grid_draws_one_offset_per_random_run_from_its_generator() -> None:
    gens = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
    grid = dstd_group.group_grid(5, [None, 0.0, None], generators=gens)
    want = [
        dstd.dstd_grid(5, None, generator=torch.Generator().manual_seed(1)),
        torch.cat([dstd.dstd_grid(5, 0.0), torch.ones(1)]),
        dstd.dstd_grid(5, None, generator=torch.Generator().manual_seed(3)),
    ]
    assert torch.equal(grid, torch.stack(want))
    assert torch.equal(gens[1].get_state(), torch.Generator().manual_seed(2).get_state()), "a fixed run draws nothing"
    assert dstd_group.group_grid(5, [0.0, 0.0], generators=[None, None]).shape == (2, 6)


# --------------------------------------------------------------------------- training


def test_mlp_runs_trained_in_a_group_equal_the_runs_trained_alone(tmp_path) -> None:
    cfgs = [TrainConfig(**{**MLP, **v}) for v in MLP_RUNS]
    alone = [train(c, tmp_path / f"alone{r}") for r, c in enumerate(cfgs)]
    grouped = train_group(cfgs, [tmp_path / f"group{r}" for r in range(3)])
    for r, (a, b) in enumerate(zip(alone, grouped)):
        _assert_same_run(a, b)
        _assert_same_files(tmp_path / f"alone{r}", tmp_path / f"group{r}")
    model, cfg = load_model(tmp_path / "group1")
    assert cfg == cfgs[1] and model.layers[0].weight.shape == (32, 784)
    # a finished group is read back, not retrained
    assert train_group(cfgs, [tmp_path / f"group{r}" for r in range(3)]) == grouped


def test_small_vgg7_runs_trained_in_a_group_equal_the_runs_trained_alone(tmp_path) -> None:
    cfgs = [TrainConfig(**{**VGG7, **v}) for v in VGG7_RUNS]
    alone = [train(c, tmp_path / f"alone{r}") for r, c in enumerate(cfgs)]
    grouped = train_group(cfgs, [tmp_path / f"group{r}" for r in range(3)])
    for r, (a, b) in enumerate(zip(alone, grouped)):
        _assert_same_run(a, b, rel=1e-4)
        _assert_same_files(tmp_path / f"alone{r}", tmp_path / f"group{r}")


def test_a_group_resumes_runs_at_different_epochs_to_the_uninterrupted_numbers(tmp_path) -> None:
    two = dict(MLP, epochs=2)
    cfgs = [TrainConfig(**{**two, **v}) for v in MLP_RUNS]
    straight = [train(c, tmp_path / f"straight{r}") for r, c in enumerate(cfgs)]
    dirs = [tmp_path / f"run{r}" for r in range(3)]
    train(cfgs[0].replace(epochs=1), dirs[0])  # killed after epoch 1, alone
    train_group([c.replace(epochs=1) for c in cfgs[1:]], dirs[1:])  # killed after epoch 1, in a group
    train(cfgs[2], dirs[2])  # resumed alone and finished
    resumed = train_group(cfgs, dirs)  # run 0 and run 1 resume in one group, run 2 is read back
    for a, b in zip(straight, resumed):
        _assert_same_run(a, b)


def test_runs_that_cannot_share_a_group_are_refused_naming_the_key(tmp_path) -> None:
    cfgs = [TrainConfig(**MLP), TrainConfig(**{**MLP, "steps": 5})]
    with pytest.raises(ValueError, match="TrainConfig.steps"):
        train_group(cfgs, [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(ValueError, match="share an out_dir"):
        train_group([TrainConfig(**MLP)] * 2, [tmp_path / "a", tmp_path / "a"])
    with pytest.raises(ValueError, match="kernel"):
        train_group([TrainConfig(**MLP), TrainConfig(**MLP, kernel="triton")], [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(ValueError, match="CUDA"):
        train_group([TrainConfig(**{**MLP, "device": "cpu"})], [tmp_path / "a"], cuda_graph=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kernel", ["reference", "triton"])
def test_a_group_replayed_from_a_cuda_graph_trains_like_the_eager_group(tmp_path, kernel: str) -> None:
    cfgs = [TrainConfig(**{**MLP, **v, "device": "cuda", "kernel": kernel, "epochs": 2}) for v in MLP_RUNS]
    eager = train_group(cfgs, [tmp_path / f"eager{r}" for r in range(3)])
    graphed = train_group(cfgs, [tmp_path / f"graph{r}" for r in range(3)], cuda_graph=True)
    for a, b in zip(eager, graphed):  # Adam's float32 bias correction on the device: rounding only
        _assert_same_run(a, b, rel=1e-4)


def test_group_plan_puts_every_run_in_one_deterministic_group() -> None:
    plan = {
        f"e{e}-m{m}-s{s}": TrainConfig(**{**MLP, "e_pos": e, "steps": m, "seed": s})
        for e in (1.0, 2.0, 4.0)
        for m in (3, 5)
        for s in (0, 1)
    }
    plan["exact-a"] = TrainConfig(**{**MLP, "exact": True})
    plan["exact-b"] = TrainConfig(**{**MLP, "exact": True, "seed": 1})
    groups = group_plan(plan, max_size=4)
    members = [r for rs in groups.values() for r in rs]
    assert sorted(members) == sorted(plan), "every run in exactly one group"
    assert all(len(rs) <= 4 for rs in groups.values())
    assert {len({plan[r].steps for r in rs}) for rs in groups.values()} == {1}
    # 6 runs per M: two groups of 3 each (not 4 + 2); the exact runs alone
    assert sorted(len(rs) for rs in groups.values()) == [1, 1, 3, 3, 3, 3]
    assert group_plan(dict(reversed(list(plan.items()))), max_size=4) == groups
    gid = next(g for g, rs in groups.items() if "e1.0-m3-s0" in rs)
    assert gid.startswith("mlp-m3-b32-")
    with pytest.raises(ValueError, match="max_size"):
        group_plan(plan, 0)


def test_group_command_line_lists_and_trains_a_group(tmp_path, capsys) -> None:
    plan = {f"r{r}": {**MLP, **v} for r, v in enumerate(MLP_RUNS[:2])}
    path = tmp_path / "plan.yaml"
    path.write_text(json.dumps(plan))
    groups = main(["--plan", str(path), "--list", "--max-size", "2"])
    assert json.loads(capsys.readouterr().out) == groups and list(groups.values()) == [["r0", "r1"]]
    out = main(["--plan", str(path), "--out-root", str(tmp_path / "res"), "--group", next(iter(groups))])
    assert set(out) == {"r0", "r1"} and all(m["status"] == "done" for m in out.values())
    assert math.isfinite(out["r1"]["final"]["acc"])
    alone = train(TrainConfig(**plan["r1"]), tmp_path / "alone")
    _assert_same_run(alone, out["r1"])


def test_a_group_network_reads_its_members_weights_and_draws(rng: torch.Generator) -> None:
    from pnnlib.nn.group import GroupNetwork

    nets = [mlp((6, 5, 3), e_pos=e, steps=4, sigma=0.05) for e in (2.0, 4.0)]
    for r, net in enumerate(nets):
        net.set_generator(torch.Generator().manual_seed(r))
    x = torch.rand(2, 7, 6, generator=rng)
    out = GroupNetwork(nets)(x)
    for r, net in enumerate(nets):
        net.set_generator(torch.Generator().manual_seed(r))
        assert torch.allclose(out[r], net(x[r]), atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        GroupNetwork([mlp((6, 5, 3), e_pos=2.0), mlp((6, 4, 3), e_pos=2.0)])
