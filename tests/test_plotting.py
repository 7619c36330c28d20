"""Shared plotting helpers (pnnlib.pipeline.plotting)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

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
