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
