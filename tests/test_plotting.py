"""Table 3 rendering shared by the MLP and CNN aggregation notebooks."""

import math

import pandas as pd

from pnnlib.experiments.cnn import table3_cnn_markdown
from pnnlib.pipeline.plotting import table3_cells, table3_markdown


def test_table3_cells_format_values_and_mark_missing_or_nan_entries():
    full = {"best_e": 4.0, "accuracy": 90.1234, "std": 0.081, "n_seeds": 5.0, "paper_best_e": 30.7,
            "paper_accuracy": 90.4}
    assert table3_cells(full) == ["4", "90.12 ± 0.08", "5", "30.7", "90.40"]
    assert table3_cells({"best_e": math.nan}) == ["–"] * 5


def test_table3_markdown_rows_of_the_mlp_and_cnn_tables_share_the_cells():
    t3 = pd.DataFrame([{"sigma": 0.01, "best_e": 2.0, "accuracy": 80.0, "std": 1.0, "n_seeds": 1},
                       {"sigma": 0.04, "best_e": math.nan}])
    mlp_md = table3_markdown(t3, 10).splitlines()
    assert mlp_md[-2:] == ["| 0.01 | 2 | 80.00 ± 1.00 | 1 | – | – |", "| 0.04 | – | – | – | – | – |"]
    cnn_md = table3_cnn_markdown(t3.assign(network="cifar10_vgg7"), 10, "CIFAR-10 (JPEG q75 copy)").splitlines()
    assert cnn_md[-2] == "| CIFAR-10 (JPEG q75 copy) VGG7 | 0.01 | 2 | 80.00 ± 1.00 | 1 | – | – |"
