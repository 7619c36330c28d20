"""Training engine (pnnlib.train) and the scaling search (pnnlib.experiments)."""

import json
import math

import numpy as np
import pytest
import torch

from pnnlib import train
from pnnlib.experiments import baselines
from pnnlib.nn.layers import TTFSConv2d, TTFSLinear
from pnnlib.nn.networks import mlp
from pnnlib.train import TrainConfig, resolve_device
from pnnlib.train.__main__ import main as train_main
from pnnlib.train.losses import _finite_times

TINY = dict(
    hidden=[32],
    train_subset=200,
    test_subset=100,
    steps=4,
    eval_steps=6,
    n_eval=2,
    epochs=2,
    lr=1e-3,
    hist_samples=50,
    progress=False,
    num_threads=1,
)


# --------------------------------------------------------------------------- cost terms


def test_classification_loss_is_cross_entropy_on_minus_t_over_tau() -> None:
    t = torch.tensor([[0.2, 0.5, 0.9], [0.6, 0.1, 0.3]], dtype=torch.float64)
    y = torch.tensor([0, 2])
    # sample 1: -log(e^-2 / (e^-2 + e^-5 + e^-9)); sample 2: -log(e^-3 / (e^-6 + e^-1 + e^-3))
    want = (math.log(1 + math.exp(-3) + math.exp(-7)) + math.log(math.exp(-3) + math.exp(2) + 1)) / 2
    assert train.classification_loss(t, y, 0.1) == pytest.approx(want, rel=1e-6)


def test_extra_outputs_include_or_exclude_the_dummy_neurons() -> None:
    t = torch.tensor([[0.2, 0.5, 0.9, 0.1, 0.1]], dtype=torch.float64)
    y = torch.tensor([0])
    incl = train.classification_loss(t, y, 0.1, n_classes=3, extra_outputs="include")
    excl = train.classification_loss(t, y, 0.1, n_classes=3, extra_outputs="exclude")
    assert float(excl) == pytest.approx(math.log(1 + math.exp(-3) + math.exp(-7)), rel=1e-6)
    assert float(incl) == pytest.approx(math.log(1 + math.exp(-3) + math.exp(-7) + 2 * math.exp(1)), rel=1e-6)
    # prediction only looks at the class outputs
    assert train.predict(t, 3).tolist() == [0]


def test_temporal_and_early_spike_penalties_by_hand() -> None:
    t = torch.tensor([[0.9, 0.5], [1.0, 0.0]])
    # ((0)^2 + 0.4^2 + 0.1^2 + 0.9^2) / 2
    assert float(train.temporal_penalty(t, 0.9)) == pytest.approx((0.16 + 0.01 + 0.81) / 2)
    h = torch.tensor([[0.5, 1.0, 0.0], [1.0, 1.0, 1.0]])
    # layer h: (0.25 + 0 + 1 + 0) / 2; layer t: (0.01 + 0.25 + 0 + 1) / 2
    want = (0.25 + 1.0) / 2 + (0.01 + 0.25 + 1.0) / 2
    assert float(train.early_spike_penalty([h, t])) == pytest.approx(want)


def test_weight_penalty_sums_every_layer() -> None:
    net = mlp((3, 2, 2), e_pos=2.0)
    with torch.no_grad():
        net.layers[0].weight.fill_(0.5)
        net.layers[1].weight.copy_(torch.tensor([[1.0, -2.0], [0.0, 3.0]]))
    assert float(train.weight_penalty(net).detach()) == pytest.approx(6 * 0.25 + 1 + 4 + 9)


def test_q_penalty_sums_the_weights_of_causal_inputs_with_a_minus_sign() -> None:
    layer = TTFSLinear(3, 2, e_pos=4.0)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 2.0, 4.0], [8.0, 16.0, 32.0]]))
    t_in = torch.tensor([[0.1, 0.5, math.inf], [0.3, 0.2, 0.1]])
    t_out = torch.tensor([[0.4, math.inf], [0.25, 0.15]])
    # sample 1: neuron 0 sees input 0 (1); neuron 1 never fires: inputs 0, 1 (8 + 16)
    # sample 2: neuron 0 sees inputs 1, 2 (2 + 4); neuron 1 sees input 2 (32)
    want = -(1 + 24 + 6 + 32) / 2
    q = train.q_penalty([(layer, t_in, t_out)])
    assert float(q.detach()) == pytest.approx(want)
    q.backward()  # dQ/dw_ij = -(number of samples in which j is causal for i) / B
    assert torch.allclose(layer.weight.grad, -torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]) / 2)


def test_q_penalty_of_a_conv_layer_matches_brute_force(rng) -> None:
    layer = TTFSConv2d(2, 3, e_pos=4.0, kernel_size=3, stride=1, padding=1)
    t_in = torch.rand(2, 2, 5, 5, generator=rng)
    t_out = torch.rand(2, 3, 5, 5, generator=rng)
    pad = torch.nn.functional.pad(t_in, (1, 1, 1, 1), value=math.inf)
    want = 0.0
    w = layer.weight.detach()
    for b in range(2):
        for o in range(3):
            for y in range(5):
                for x in range(5):
                    patch = pad[b, :, y : y + 3, x : x + 3]
                    want -= float((w[o] * (patch < t_out[b, o, y, x])).sum())
    assert float(train.q_penalty([(layer, t_in, t_out)]).detach()) == pytest.approx(want / 2, rel=1e-5)


def test_cost_treats_non_firing_outputs_as_t_max() -> None:
    cfg = TrainConfig(model="mlp", gamma1=1.0, t_ref=0.5)
    net = mlp((2, 2), e_pos=2.0)
    t = torch.tensor([[0.2, math.inf]])
    out = _finite_times(t, 4.0)
    assert out[0].tolist() == pytest.approx([0.2, 4.0])
    c, t_out, terms = train.cost(net, torch.tensor([[0.0, 1.0]]), torch.tensor([1]), cfg, 2)
    assert set(terms) == {"loss", "temp"} and math.isfinite(float(c.detach()))


def test_a_silent_neuron_reads_as_the_window_end_one_for_rc_spike_t_max_for_ttfs() -> None:
    """RC-Spike's readout clips at 1 (every layer carries a t_max, the TTFS grid's end, which an
    RC-Spike output never reaches), so its spike-time histograms end at 1.05, not t_max + 0.05."""
    rc = mlp((4, 3), e_pos=2.0, t_max=4.0)
    assert train.losses.last_t_max(rc) == 1.0
    assert train.losses.last_t_max(torch.nn.Sequential(TTFSLinear(3, 2, e_pos=4.0, t_max=3.0))) == 3.0
    hist = train.spike_histograms(rc, torch.rand(5, 4), 5)
    assert hist["edges"][0] == pytest.approx(-0.05) and hist["edges"][-1] == pytest.approx(1.05)


def test_evaluation_names_a_silent_output_and_the_accuracy_of_each_class() -> None:
    """An output whose inputs all pull its potential down never reaches threshold: its time is
    clipped to 1 (no gradient), the evaluation reports it silent and its class never recognised;
    an output that fires late, just before the window end, is not silent."""
    torch.manual_seed(0)
    net = mlp((4, 4), e_pos=2.0, sigma=0.01)
    w = [[2.0, 2.0, 0.0, 0.0], [-3.0] * 4, [0.0, 0.0, 2.0, 2.0], [0.01] * 4]
    with torch.no_grad():
        net.layers[0].weight.copy_(torch.tensor(w))
    t, y = torch.rand(300, 4), torch.randint(0, 3, (300,))
    ev = train.evaluate(net, t, y, TrainConfig(model="mlp", sigma=0.01, eval_steps=10), 3, n_eval=2)
    assert ev["silent_outputs"] == [1]
    assert ev["mean_t_out"][1] == pytest.approx(1.0, abs=1e-3) and 0.9 < ev["mean_t_out"][3] < 0.999
    assert ev["class_acc"][1] == 0.0 and min(ev["class_acc"][0], ev["class_acc"][2]) > 0.4
    counts = torch.bincount(y, minlength=3).double()
    assert float((torch.tensor(ev["class_acc"]) * counts).sum() / len(y)) == pytest.approx(ev["acc"])


def test_reevaluate_prints_what_evaluate_reports_for_a_finished_run(tmp_path, capsys) -> None:
    from pnnlib.data import load_dataset
    from pnnlib.train.reevaluate import main as reevaluate

    cfg = TrainConfig(model="iris_net", dataset="iris", n_outputs=5, epochs=1, batch=50, e_pos=3.0, steps=4)
    train.train(cfg.replace(eval_steps=4, hist_samples=10, device="cpu", progress=False), tmp_path / "run")
    reevaluate([str(tmp_path / "run"), "--n-eval", "2"])
    out = json.loads(capsys.readouterr().out)
    model, cfg2 = train.load_model(tmp_path / "run")
    d = load_dataset("iris", seed=cfg2.seed)
    ev = train.evaluate(model, d.test_t, d.test_y, cfg2, 3, n_eval=2, key="reevaluate")
    keys = ("acc", "acc_std", "class_acc", "mean_t_out", "silent_outputs")
    assert out == {"run": "run", "weights": "final", **{k: ev[k] for k in keys}}
    assert len(out["class_acc"]) == 3 and len(out["mean_t_out"]) == 5
    reevaluate([str(tmp_path / "run"), "--n-eval", "2", "--initial"])  # the network train() started from
    first = train.build_model(cfg2, d.input_shape, 3, torch.Generator().manual_seed(cfg2.seed))
    ev0 = train.evaluate(first, d.test_t, d.test_y, cfg2, 3, n_eval=2, key="reevaluate")
    assert json.loads(capsys.readouterr().out) == {"run": "run", "weights": "initial", **{k: ev0[k] for k in keys}}


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"lr": -1e-4}, "lr"),
        ({"dataset": "mnist"}, "dataset"),
        ({"model": "resnet"}, "model"),
        ({"steps": 0}, "steps"),
        ({"eval_steps": 0}, "eval_steps"),
        ({"offset": "sometimes"}, "offset"),
        ({"sigma": -0.1}, "sigma"),
        ({"e_pos": 0.0}, "e_pos"),
        ({"batch": 2.5}, "batch"),
        ({"hidden": []}, "hidden"),
        ({"learning_rate": 1e-3}, "learning_rate"),
    ],
)
def test_bad_config_values_name_the_key(changes: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        TrainConfig.from_dict(changes)


def test_yaml_config_round_trip(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("e_pos: .inf\nsteps: 3\nhidden: [20, 10]\nlr: 2e-4\n")  # YAML 1.1 reads 2e-4 as a string
    cfg = TrainConfig.from_yaml(path)
    assert cfg.e_pos == math.inf and cfg.steps == 3 and cfg.hidden == [20, 10] and cfg.lr == 2e-4
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    path.write_text("stepz: 3\n")
    with pytest.raises(ValueError, match="stepz"):
        TrainConfig.from_yaml(path)


# --------------------------------------------------------------------------- training runs


@pytest.mark.slow
def test_short_run_on_real_fashion_mnist_learns(tmp_path) -> None:
    cfg = TrainConfig(
        hidden=[100],
        train_subset=600,
        test_subset=300,
        steps=5,
        eval_steps=10,
        n_eval=2,
        epochs=3,
        lr=1e-3,
        hist_samples=100,
        progress=False,
        num_threads=1,
    )
    m = train.train(cfg, tmp_path)
    assert m["status"] == "done" and m["device"] == "cpu" and len(m["history"]) == 3
    assert m["final"]["acc"] > 0.55, m["final"]  # chance is 0.10
    assert m["history"][-1]["train_loss"] < m["history"][0]["train_loss"]
    assert {p.name for p in tmp_path.iterdir()} >= {
        "metrics.json",
        "weights.pt",
        "spike_hist.npz",
        "checkpoint.pt",
        "config.yaml",
    }
    hist = np.load(tmp_path / "spike_hist.npz")
    assert [hist[f"layer{k}"].sum() + hist[f"below{k}"] + hist[f"above{k}"] for k in (1, 2)] == [100 * 100, 100 * 10]
    model, loaded = train.load_model(tmp_path)
    assert loaded == cfg and model.layers[0].weight.shape == (100, 784)


def _strip_times(m: dict) -> dict:
    m = json.loads(json.dumps(m))
    for row in m["history"]:
        row.pop("wall_s")
    return {k: m[k] for k in ("history", "final")}


@pytest.mark.slow
def test_resumed_run_equals_an_uninterrupted_run(tmp_path) -> None:
    straight = train.train(TrainConfig(**TINY), tmp_path / "a")
    cfg1 = TrainConfig(**{**TINY, "epochs": 1})
    first = train.train(cfg1, tmp_path / "b")  # "killed" after epoch 1 (checkpoint written)
    assert len(first["history"]) == 1
    resumed = train.train(TrainConfig(**TINY), tmp_path / "b")
    assert _strip_times(resumed) == _strip_times(straight)
    wa = torch.load(tmp_path / "a" / "weights.pt")
    wb = torch.load(tmp_path / "b" / "weights.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # a finished run is returned, not recomputed
    assert train.train(TrainConfig(**TINY), tmp_path / "a") == json.loads((tmp_path / "a" / "metrics.json").read_text())


def test_different_config_in_an_existing_run_dir_is_an_error(tmp_path) -> None:
    train.train(TrainConfig(**{**TINY, "epochs": 1}), tmp_path)
    with pytest.raises(ValueError, match=r"different config \(e_pos: 4.0 -> 2.0\)"):
        train.train(TrainConfig(**{**TINY, "epochs": 1, "e_pos": 2.0}), tmp_path)


@pytest.mark.slow
def test_command_line_entry_point(tmp_path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in TINY.items()) + "\n")
    m = train_main(["--config", str(cfg), "--out", str(tmp_path / "run"), "--set", "epochs=1", "e_pos=2.0"])
    assert m["config"]["epochs"] == 1 and m["config"]["e_pos"] == 2.0 and m["status"] == "done"


@pytest.mark.slow
def test_iris_circuit_setting_trains_with_the_table2_penalties(tmp_path) -> None:
    cfg = TrainConfig(
        model="iris_net",
        dataset="iris",
        n_outputs=5,
        e_pos=2.8,
        e_neg=-1.53,
        e_dis=6.44,
        steps=10,
        eval_steps=30,
        lr=1e-2,
        batch=50,
        epochs=40,
        gamma1=0.1,
        t_ref=0.9,
        init_gain=1.0,
        gamma_w=1e-2,
        gamma_v=0.2,
        n_eval=2,
        eval_every=0,
        progress=False,
        num_threads=1,
    )
    m = train.train(cfg, tmp_path)
    assert m["final"]["acc"] > 0.8, m["final"]  # chance is 1/3


# --------------------------------------------------------------------------- scaling


def test_scale_weights_scales_and_restores() -> None:
    net = mlp((4, 3), e_pos=2.0)
    w0 = net.layers[0].weight.detach().clone()
    with baselines.scale_weights(net, 2.0, 0.5):
        w = net.layers[0].weight.detach()
        assert torch.allclose(w, torch.where(w0 >= 0, 2.0 * w0, 0.5 * w0))
    assert torch.equal(net.layers[0].weight.detach(), w0)


def test_baselines_command_runs_without_loading_its_module_twice() -> None:
    """``python -m pnnlib.experiments.baselines`` (a rule's command) starts without runpy's
    'found in sys.modules' warning: the package imports the module only on first use."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-m", "pnnlib.experiments.baselines", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "--search-samples" in out.stdout


def test_grid_search_finds_a_known_optimum_in_2d_and_1d() -> None:
    def objective(a_pos: float, a_neg: float) -> float:
        return -((a_pos - 1.3) ** 2) - 2 * (a_neg - 0.7) ** 2

    alphas = np.round(np.arange(0.5, 2.01, 0.1), 10)
    best, land = baselines.grid_search_scaling(objective, alphas, alphas)
    assert best == pytest.approx((1.3, 0.7, 0.0), abs=1e-9) and land.shape == (16, 16)
    best1, land1 = baselines.grid_search_scaling(objective, alphas)  # α⁺ = α⁻ = α
    # -(a-1.3)^2 - 2(a-0.7)^2 is largest at a = (1.3 + 1.4) / 3 = 0.9
    assert best1[:2] == pytest.approx((0.9, 0.9)) and land1.shape == (16,)

    def rmse(a_pos: float, a_neg: float) -> float:
        return abs(a_pos - 1.1) + abs(a_neg - 1.1)

    best_min, _ = baselines.grid_search_scaling(rmse, alphas, mode="min")
    assert best_min[:2] == pytest.approx((1.1, 1.1))


@pytest.mark.slow
def test_fewer_epochs_than_a_checkpoint_holds_is_an_error(tmp_path) -> None:
    train.train(TrainConfig(**TINY), tmp_path)
    with pytest.raises(ValueError, match="epochs"):
        train.train(TrainConfig(**{**TINY, "epochs": 1}), tmp_path)


def test_train_step_benchmark_prints_the_ratio(tmp_path, capsys) -> None:
    from pnnlib.bench import train_step

    assert train_step.main(["--batch", "4", "--repeats", "1", "--group", "2", "--json", str(tmp_path / "b.json")]) == 0
    res = json.loads((tmp_path / "b.json").read_text())
    assert res["grid_intervals"] == 11 and res["results"][0]["ratio"] > 0
    out = capsys.readouterr().out
    assert res["results"][0]["group_2_step_s"] > 0 and "group of G" in out
    assert "target <= 1.5x" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback")
def test_auto_device_falls_back_to_cpu_with_a_warning_and_explicit_cuda_fails(caplog) -> None:
    with caplog.at_level("WARNING", logger="pnnlib.train"):
        assert resolve_device("auto").type == "cpu"
    assert "no CUDA device" in caplog.text
    with pytest.raises(ValueError, match="use device: auto or cpu"):
        resolve_device("cuda:0")


@pytest.mark.slow
def test_an_evaluation_run_twice_gives_identical_numbers(tmp_path) -> None:
    """Offsets and noise of every evaluation come from (run seed, evaluation name): a rerun of the
    final evaluation, of an ANN curve or of a scaled-ANN search reproduces every number."""
    from pnnlib.experiments.baselines import ann_curve, scaled_ann_curve

    cfg = TrainConfig(
        model="iris_net",
        dataset="iris",
        n_outputs=5,
        epochs=1,
        batch=50,
        e_pos=100.0,
        steps=4,
        eval_steps=4,
        n_eval=3,
        sigma=0.05,
        hist_samples=10,
        device="cpu",
        progress=False,
    )
    metrics = train.train(cfg, tmp_path / "run")
    model, cfg2 = train.load_model(tmp_path / "run")
    from pnnlib.data import load_dataset

    d = load_dataset("iris")
    again = train.evaluate(model, d.test_t, d.test_y, cfg2, 3, n_eval=3, key="final")
    assert again["accs"] == metrics["final"]["accs"]
    assert len(set(again["accs"])) > 1 or again["loss_std"] > 0  # the evaluations do draw fresh noise
    assert ann_curve(tmp_path / "run", [1.0, 2.0], 3) == ann_curve(tmp_path / "run", [1.0, 2.0], 3)
    # a point computed alone (as the archive caches it) equals the same point of a whole curve
    assert ann_curve(tmp_path / "run", [2.0], 3)[0] == ann_curve(tmp_path / "run", [1.0, 2.0], 3)[1]
    assert scaled_ann_curve(tmp_path / "run", [1.0], [0.9, 1.1], None, 30, 2) == scaled_ann_curve(
        tmp_path / "run", [1.0], [0.9, 1.1], None, 30, 2
    )


def test_schema_training_section_and_run_notebook_follow_train_config() -> None:
    """A TrainConfig field is written once: the profile schema's `train` section lists every field a
    profile may set (all but the grid keys and the thread count, which the rules set), and
    run_train.ipynb takes the whole config as one dict parameter."""
    import dataclasses

    import yaml

    from pnnlib.experiments.mlp import ID_KEYS
    from pnnlib.pipeline import REPO_ROOT, notebook_parameters

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    schema = yaml.safe_load((REPO_ROOT / "config" / "schema.yaml").read_text())
    in_schema = set(schema["$defs"]["train"]["properties"])
    assert in_schema <= fields, f"schema keys that are no TrainConfig field: {sorted(in_schema - fields)}"
    assert fields - set(ID_KEYS) - {"num_threads"} == in_schema, (
        f"TrainConfig fields missing from the schema's train section: {sorted(fields - set(ID_KEYS) - in_schema)}"
    )
    declared = notebook_parameters(REPO_ROOT / "notebooks" / "run_train.ipynb")
    assert "config" in declared and not (set(declared) & fields)
