"""Shared plotting helpers (pnnlib.pipeline.plotting)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pnnlib.pipeline import plotting  # noqa: E402


def test_save_marks_a_panel_without_data_instead_of_leaving_it_blank(tmp_path) -> None:
    fig, (full, empty) = plt.subplots(1, 2)
    full.plot([0, 1], [0, 1])
    empty.legend(["nothing"])
    out = plotting.save(fig, tmp_path / "f")
    assert all(p.is_file() for p in out)
    assert [t.get_text() for t in empty.texts] == ["no data at this scale"] and empty.get_legend() is None
    assert not full.texts
    plt.close(fig)


def test_saving_the_same_figure_on_another_day_writes_the_same_bytes(tmp_path, monkeypatch) -> None:
    """No creation date in the PDF: a rerun leaves committed figures unchanged."""
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # the clock matplotlib would stamp the PDF with
    first = [p.read_bytes() for p in plotting.save(fig, tmp_path / "a")]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")
    second = [p.read_bytes() for p in plotting.save(fig, tmp_path / "b")]
    assert first == second
    plt.close(fig)


def test_spike_histograms_show_where_the_spikes_are_not_the_whole_grid() -> None:
    """Fig. 4d: the histograms span [0, t_max = 4] but spikes end near t = 1; the x-axis follows them."""
    edges = np.linspace(0.0, 4.0, 401)
    counts = np.zeros(400)
    counts[20:105] = 1.0  # spikes in [0.2, 1.05)
    hist = {"edges": edges, "layer1": counts, "below1": 0, "above1": 0}
    fig, ax = plt.subplots()
    plotting.spike_time_histograms([ax], {1.0: hist})
    lo, hi = ax.get_xlim()
    assert lo < 0.2 and 1.05 < hi < 1.2
    plt.close(fig)


def test_ann_and_scaled_ann_of_one_e_are_drawn_side_by_side() -> None:
    """Fig. 4f: the two baselines at the same |E| sit at distinct x (their error bars would hide each other)."""
    fig, ax = plt.subplots()
    point = [{"e": 1.0, "acc": 0.75, "acc_std": 0.04}]
    runs = pd.DataFrame(columns=["e_pos", "steps", "offset", "acc", "seed"])
    plotting.acc_vs_e(ax, runs, 15, ann=point, scaled=[{**point[0], "acc": 0.81}])
    xs = {c.get_label(): c.lines[0].get_xdata()[0] for c in ax.containers}
    assert xs["ANN (|E| = 100)"] < 1.0 < xs["scaled ANN"]
    plt.close(fig)
