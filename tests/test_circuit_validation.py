"""Tests of the circuit validation (top-down vs bottom-up mapping, paper §1.8, §6).

Unit tests (no ngspice): the response-surface scaling search on synthetic spike-time surfaces, the
model's membrane trajectories, pruning, sample order, input errors. Tests marked ``spice`` run
ngspice with the sky130 models: the mapping round trip through a simulated single synapse, and a
3-sample validation end to end (together well under 2 minutes on 2 free cores).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pnnlib.circuit import Characterisation, characterise_devices, simulate_layer
from pnnlib.circuit.netlist import LayerBiases
from pnnlib.core.neuron import rcspike_fire_time
from pnnlib.experiments.circuit_validation import (
    CLASS_OUTPUTS,
    CircuitReadout,
    NeuronModel,
    check_realisable,
    class_interleaved_order,
    fire_ramp,
    iris_train_config,
    json_ready,
    load_characterisation,
    model_forward,
    model_membrane_traces,
    neuron_model,
    prune_small,
    readout_forward,
    scaling_search,
    spike_rmse_ns,
    table2_rows,
    train_mappings,
    trained_weights,
    validate_mapping,
)

BOTTOM_UP = NeuronModel(2.83, -1.52, 6.7)


# --------------------------------------------------------------------------- unit tests


def synthetic_simulator(t_model: np.ndarray, best: tuple[float, float], seed: int = 0):
    """SPICE stand-in for the search logic only: spike times that depart from the model's linearly
    and quadratically in the scale offset from ``best`` (no ngspice involved)."""
    rng = np.random.default_rng(seed)
    a, b, c = (rng.normal(0, 0.05, t_model.shape) for _ in range(3))
    calls: list[tuple[float, float]] = []

    def simulate(points):
        calls.extend(points)
        out = []
        for p, n in points:
            x, y = p - best[0], n - best[1]
            out.append(np.clip(t_model + a * x + b * y + c * x * y, 0, 1))
        return out

    return simulate, calls


def test_scaling_search_1d_finds_optimum_and_refines() -> None:
    t_model = np.random.default_rng(1).uniform(0.3, 0.9, (4, 5))
    simulate, calls = synthetic_simulator(t_model, (1.13, 1.13))
    s = scaling_search(simulate, t_model, two_d=False, design_step=0.05)
    # first design 0.95-1.05: optimum on the edge -> re-centred at 1.05, design 1.0-1.1 -> edge
    # again -> re-centred at 1.1, where the optimum is inside the design
    assert [r["center"][0] for r in s.rounds] == [1.0, 1.05, 1.1]
    assert [r["at_edge"] for r in s.rounds] == [True, True, False]
    assert s.chosen == pytest.approx((1.13, 1.13))
    assert len(s.rounds[0]["alphas_pos"]) == 11
    assert s.rounds[0]["alphas_neg"] is None
    # each scale simulated once (the shared design points come from the cache)
    assert len(calls) == len(set(calls)) == len(s.measured)
    assert s.chosen == min(s.measured, key=s.measured.get)
    assert s.chosen[0] == s.chosen[1]
    assert s.measured[s.chosen] == pytest.approx(min(s.measured.values()))


def test_scaling_search_2d_full_design() -> None:
    t_model = np.random.default_rng(2).uniform(0.3, 0.9, (3, 5))
    simulate, calls = synthetic_simulator(t_model, (1.04, 0.93), seed=3)
    s = scaling_search(simulate, t_model, two_d=True, design_step=0.1)
    assert len(s.rounds) == 1 and len(s.rounds[0]["design"]) == 9
    assert np.array(s.rounds[0]["landscape_ns"]).shape == (21, 21)
    # a surface that is exactly quadratic is recovered: the optimum and its RMSE (~0) are found
    assert s.chosen == pytest.approx((1.04, 0.93))
    assert s.measured[s.chosen] < 1e-6
    assert calls[-1] == s.chosen


def test_scaling_search_starts_where_it_is_told() -> None:
    """At another operating condition the search starts at the reference's scale: one design there
    finds an optimum the default start at (1, 1) would need several re-centred designs to reach."""
    t_model = np.random.default_rng(4).uniform(0.3, 0.9, (3, 5))
    simulate, calls = synthetic_simulator(t_model, (1.23, 1.17), seed=5)
    s = scaling_search(simulate, t_model, two_d=True, design_step=0.05, center=(1.21, 1.18))
    assert s.rounds[0]["center"] == [1.21, 1.18] and len(s.rounds) == 1
    assert s.chosen == pytest.approx((1.23, 1.17))
    one_d = scaling_search(simulate, t_model, two_d=False, design_step=0.05, center=(1.2, 1.2))
    assert one_d.rounds[0]["design"][0] == [1.15, 1.15]


def test_scaling_search_star_design_and_bad_step() -> None:
    t_model = np.full((1, 5), 0.5)
    simulate, calls = synthetic_simulator(t_model, (1.0, 1.0))
    s = scaling_search(simulate, t_model, two_d=True, design_step=0.05, design_2d="star", rounds=1)
    assert len(s.rounds[0]["design"]) == 5 and (0.95, 0.95) not in calls
    with pytest.raises(ValueError, match="multiple of grid_step"):
        scaling_search(simulate, t_model, two_d=False, design_step=0.055)
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        scaling_search(simulate, t_model, two_d=False, design_step=0.05, rounds=0)
    with pytest.raises(ValueError, match="design_2d"):
        scaling_search(simulate, t_model, two_d=True, design_step=0.05, design_2d="box")


def test_model_traces_match_forward_and_fire_time() -> None:
    rng = np.random.default_rng(4)
    w1, w2 = rng.uniform(-0.6, 1.0, (5, 5)), rng.uniform(-0.6, 1.0, (5, 5))
    x = np.concatenate([rng.uniform(0, 1, (1, 4)), [[0.0]]], 1)
    t_norm = np.linspace(0, 2, 2001)
    for model in (BOTTOM_UP, NeuronModel(100.0, -100.0)):
        out = model_forward(w1, w2, x, model)
        traces = model_membrane_traces(w1, w2, x[0], model, t_norm)
        k1 = np.searchsorted(t_norm, 1.0)
        np.testing.assert_allclose(traces[0][:, k1], out["v1"][0], atol=1e-9)
        np.testing.assert_allclose(traces[1][:, k1], out["v2"][0], atol=1e-9)
        for layer, v_tr in enumerate(traces, 1):
            t_fire = out[f"t{layer}"][0]
            for i in np.flatnonzero((t_fire > 0.01) & (t_fire < 0.99)):
                # the ramp reaches threshold 1 at the spike time, then the trace is drawn reset to 0
                before = t_norm < 1 + t_fire[i] - 2e-3
                after = t_norm > 1 + t_fire[i] + 2e-3
                assert v_tr[i][before & (t_norm > 1)].max() < 1.0
                assert np.all(v_tr[i][after] == 0.0)
    # fire_ramp reaches 1 exactly at the E_dis readout time (§1.7)
    v0 = np.array([0.2, 0.7])
    t = rcspike_fire_time(torch.as_tensor(v0), 6.7).numpy()
    for k in range(2):
        assert fire_ramp(v0[k : k + 1], np.array([t[k]]), 6.7)[0, 0] == pytest.approx(1.0)


def test_prune_order_rmse() -> None:
    w = np.array([[1e-5, -2e-4, 0.3], [-5e-5, 0.0, -0.7]])
    np.testing.assert_array_equal(prune_small(w, 1e-4), [[0, -2e-4, 0.3], [0, 0, -0.7]])
    labels = np.array([0] * 17 + [1] * 17 + [2] * 16)
    order = class_interleaved_order(labels)
    assert sorted(order) == list(range(50))
    assert np.bincount(labels[order[:10]]).tolist() == [4, 3, 3]
    assert spike_rmse_ns(np.array([0.5, 0.5]), np.array([0.503, 0.497])) == pytest.approx(3.0)
    assert json_ready({"a": np.float64("nan"), "b": np.arange(2)}) == {"a": None, "b": [0, 1]}


def test_missing_or_incomplete_characterisation(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="devices stage"):
        load_characterisation(tmp_path / "characterisation.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"corner": "tt"}))
    with pytest.raises(ValueError, match="not a complete device characterisation"):
        load_characterisation(bad)
    with pytest.raises(ValueError, match="needs the device characterisation"):
        neuron_model("bottom_up")
    with pytest.raises(ValueError, match="mapping must be one of"):
        neuron_model("sideways")
    assert neuron_model("top_down") == NeuronModel(100.0, -100.0, None)


def synthetic_readout(step_mv: float = 3.0) -> CircuitReadout:
    """A no-input ramp v = 1.1 u (spike when it crosses 1, 10 ns late) and selector steps linear in
    the gate voltage: NMOS −step_mv at 0.5 V, PMOS +step_mv at 1.2 V, 0 when off."""
    u = np.linspace(0, 1 / 1.1, 201)
    vg_n, vg_p = np.array([0.0, 0.3, 0.5, 0.7]), np.array([1.0, 1.2, 1.5, 1.8])
    dv_n = -step_mv * 1e-3 * np.clip((vg_n - 0.3) / 0.2, 0, None)
    dv_p = step_mv * 1e-3 * np.clip((1.5 - vg_p) / 0.3, 0, None)
    tables = (vg_n, dv_n, vg_p, dv_p)
    return CircuitReadout(
        ramp_t=u,
        ramp_v=1.1 * u,
        t_fire_no_input=1 / 1.1 + 0.01,
        start_delay=0.007,
        steps={"ideal": tables, "neuron": tables},
        vth=0.872,
    )


def test_measured_readout_follows_the_no_input_ramp() -> None:
    ro = synthetic_readout()
    v = np.array([0.0, 0.55, 1.0, 1.5, -0.11])
    # autonomous discharge: a neuron at v fires when the no-input ramp would go from v to threshold
    np.testing.assert_allclose(
        ro.fire_time(v), [1 / 1.1 + 0.01, 0.45 / 1.1 + 0.01, 0.01, 0.01, 1.11 / 1.1 + 0.01], atol=1e-9
    )
    # never earlier than the output chain's delay
    assert ro.fire_time(np.array([5.0]))[0] >= ro.start_delay
    assert np.all(np.diff(ro.fire_time(np.linspace(-0.5, 0.99, 50))) < 0)


def test_readout_below_the_ramp_start_extends_its_initial_slope() -> None:
    # a waveform whose first samples are flat (the running maximum over a small dip at the start)
    ro = synthetic_readout()
    flat = ro.ramp_v.copy()
    flat[:3] = flat[0]
    ro = dataclasses.replace(ro, ramp_v=flat)
    t = ro.fire_time(np.array([-0.2, -0.1, 0.0]))
    assert np.all(np.isfinite(t)) and np.all(np.diff(t) < 0)
    assert t[0] - t[1] == pytest.approx(0.1 / 1.1, rel=0.05)


def test_turn_off_steps_of_spiking_inputs_enter_the_membrane() -> None:
    ro = synthetic_readout(step_mv=3.0)
    biases = LayerBiases(v_n=np.array([[0.5, 0.0], [0.0, 0.0]]), v_p=np.array([[1.8, 1.2], [1.8, 1.8]]))
    step = ro.turn_off_step(biases, "ideal")
    # NMOS pulls the membrane down (v up), PMOS up (v down), a switched-off block adds nothing
    np.testing.assert_allclose(step, [[3e-3 / 0.872, -3e-3 / 0.872], [0.0, 0.0]], atol=1e-12)
    w = np.array([[0.3, -0.2], [0.0, 0.0]])
    zero = synthetic_readout(step_mv=0.0)
    for t_in, n_spiking in ((np.array([[0.2, 0.4]]), 2), (np.array([[0.2, 1.0]]), 1)):
        out = readout_forward(w, w, t_in, BOTTOM_UP, ro, [biases, biases])
        ref = readout_forward(w, w, t_in, BOTTOM_UP, zero, [biases, biases])
        assert out["v1"][0, 0] - ref["v1"][0, 0] == pytest.approx(step[0, :n_spiking].sum())
        assert out["v1"][0, 1] == ref["v1"][0, 1]


def test_readout_needs_the_selector_bench() -> None:
    with pytest.raises(ValueError, match="rerun the devices stage"):
        CircuitReadout.from_characterisation(
            Characterisation(
                corner="tt",
                temp_c=27.0,
                params={},
                fit_range=(0.46, 1.36),
                lambdas={},
                reversal={},
                paper={},
                families={},
                tables={},
                discharger={},
                sense={},
                firing={},
                membrane={},
            )
        )


# --------------------------------------------------------------------------- ngspice


@pytest.fixture(scope="module")
def char(tmp_path_factory: pytest.TempPathFactory) -> Characterisation:
    """The device characterisation, saved to JSON and read back as the pipeline does."""
    path = characterise_devices(None).save_json(tmp_path_factory.mktemp("devices") / "characterisation.json")
    return load_characterisation(path)


@pytest.mark.spice
def test_training_config_reads_reversal_from_characterisation(char: Characterisation) -> None:
    bu = iris_train_config("bottom_up", char, epochs=5)
    rev = char.reversal["wired"]
    assert (bu.e_pos, bu.e_neg, bu.e_dis) == (rev["e_plus"], rev["e_minus"], rev["e_dis"])
    assert (bu.lr, bu.batch, bu.tau_soft, bu.gamma1, bu.gamma_w, bu.gamma_v) == (1e-3, 50, 0.07, 0.1, 1e-2, 0.2)
    assert bu.model == "iris_net" and bu.n_outputs == 5 and bu.epochs == 5
    td = iris_train_config("top_down", char)
    assert (td.e_pos, td.e_neg, td.e_dis) == (100.0, -100.0, None)
    rows = table2_rows(char, {"top_down": td.to_dict(), "bottom_up": bu.to_dict()})
    assert {r["group"] for r in rows} == {"circuit", "model", "learning"}
    assert all(set(r) == {"group", "parameter", "unit", "paper", "ours", "note"} for r in rows)


@pytest.mark.spice
def test_training_in_worker_processes_equals_training_in_one(char: Characterisation, tmp_path: Path) -> None:
    """The (mapping, seed) runs spread over 2 processes give the runs trained one after another."""
    settings = dict(epochs=3, eval_every=0, hist_samples=10, progress=False, device="cpu")
    alone = train_mappings(["top_down", "bottom_up"], char, tmp_path / "alone", [0, 1], workers=1, **settings)
    pooled = train_mappings(["top_down", "bottom_up"], char, tmp_path / "pooled", [0, 1], workers=2, **settings)
    for name in ("top_down", "bottom_up"):
        (best_a, rows_a), (best_p, rows_p) = alone[name], pooled[name]
        assert [r["train_loss"] for r in rows_a] == [r["train_loss"] for r in rows_p]
        assert best_a.name == best_p.name and best_a.parent.name == name
        for wa, wp in zip(trained_weights(best_a), trained_weights(best_p), strict=True):
            np.testing.assert_array_equal(wa, wp)


@pytest.mark.spice
def test_mapping_round_trip_through_simulated_synapse(char: Characterisation, tmp_path: Path) -> None:
    """weights -> gate biases -> ngspice single-synapse current -> weights, within 3 %.

    The current is read from the initial slope of the simulated membrane: at v = 0 (V = V0, where
    the mapping sets the current) a synapse of weight w drives dv/dt = w (§1.2), in T_circ units.
    """
    mapping = char.mapping()
    w = np.array([[0.25], [0.9], [-0.3], [-0.8]])
    np.testing.assert_allclose(mapping.biases_to_weights(mapping.weights_to_biases(w)), w, rtol=1e-6)
    res = simulate_layer(w, np.array([[0.0]]), out_dir=tmp_path, characterisation=mapping)
    t, v = res.t_norm, res.v_norm(1)[0]
    sel = (t > 0.01) & (t < 0.12)
    slope0 = np.array([np.polyfit(t[sel], vi[sel], 2)[1] for vi in v])
    np.testing.assert_allclose(slope0, w[:, 0], rtol=0.03)


@pytest.mark.spice
def test_unrealisable_weights_raise_clearly(char: Characterisation, tmp_path: Path) -> None:
    mapping = char.mapping()
    w = np.full((3, 5), 0.2)
    w[1, 2] = 1e-7  # below the synapse's leakage floor and not pruned
    with pytest.raises(ValueError, match=r"unrealisable at current scale .*weights_hidden\[1, 2\] = 1e-07"):
        validate_mapping(
            "bottom_up",
            w,
            np.full((3, 3), 0.2),
            np.zeros((1, 5)),
            BOTTOM_UP,
            mapping,
            out_dir=tmp_path,
            prune_below=1e-9,
        )
    with pytest.raises(ValueError, match=r"weights_out\[0, 0\] = 1e\+06"):
        check_realisable(mapping, {"weights_out": np.array([[1e6]])}, [(1.0, 1.0)])
    with pytest.raises(ValueError, match="samples_per_deck"):
        validate_mapping(
            "bottom_up",
            w * 0 + 0.2,
            np.full((3, 3), 0.2),
            np.zeros((6, 5)),
            BOTTOM_UP,
            mapping,
            out_dir=tmp_path,
            search_samples=3,
            samples_per_deck=2,
        )


@pytest.mark.spice
def test_three_sample_validation_end_to_end(char: Characterisation, tmp_path: Path) -> None:
    """A 5-3-3 network on 3 Iris-like samples: search (1 sample), final run, comparison."""
    w1 = np.array([[0.2, 0.1, -0.15, 0.0, 0.45], [-0.1, 0.3, 0.2, -0.2, 0.5], [0.0, -0.3, 0.1, 0.4, 0.3]])
    w2 = np.array([[0.8, -0.3, 0.4], [-0.4, 0.9, 0.3], [0.5, 0.5, -0.5]])
    x = np.array([[0.2, 0.6, 0.1, 0.05, 0.0], [0.7, 0.4, 0.6, 0.55, 0.0], [0.5, 0.5, 0.85, 0.95, 0.0]])
    model = neuron_model("bottom_up", char)
    r = validate_mapping(
        "bottom_up",
        w1,
        w2,
        x,
        model,
        char.mapping(),
        out_dir=tmp_path,
        search_samples=1,
        samples_per_deck=1,
        rounds=1,
        workers=2,
        readout=CircuitReadout.from_characterisation(char),
    )
    assert r.scale[0] == r.scale[1] and r.scale in r.search.measured
    assert len(r.search.rounds[0]["design"]) == 3
    # the search sample's deck at the chosen scale is reused by the final run
    assert r.sim.cached[0] and not all(r.sim.cached[1:])
    assert r.t_spice[1].shape == (3, 3) and np.isfinite(r.t_spice[1]).all()
    d = r.diff_ns(2)
    assert r.rmse_ns == pytest.approx(float(np.sqrt(np.mean(d**2))))
    assert r.rmse_class_ns == pytest.approx(float(np.sqrt(np.mean(d[:, :CLASS_OUTPUTS] ** 2))))
    assert r.sample_rmse_ns[r.worst] == pytest.approx(r.sample_rmse_ns.max())
    # the physical model tracks the circuit: a few ns, far below an uncalibrated ideal readout
    assert r.rmse_ns < 10.0 and r.rmse_hidden_ns < 10.0
    ideal = model_forward(w1, w2, x, NeuronModel(math.inf, -math.inf))["t2"]
    assert spike_rmse_ns(ideal, r.t_spice[1]) > 2 * r.rmse_ns
    # the measured readout is computed from the same SPICE runs
    assert r.readout_out is not None and r.readout_out["t2"].shape == (3, 3)
    assert r.rmse_readout_ns == pytest.approx(spike_rmse_ns(r.readout_out["t2"], r.t_spice[1]))
    assert r.rmse_readout_ns < 10.0
    summary = json.loads(json.dumps(json_ready(r.summary())))
    assert summary["n_samples"] == 3 and summary["search"]["chosen"] == list(r.scale)
    assert summary["measured_readout"]["rmse_ns"] == pytest.approx(r.rmse_readout_ns)
    assert summary["rmse_class_ns"] == pytest.approx(r.rmse_class_ns)
    assert len(summary["error_sources"]["membrane_rms"]) == 2
