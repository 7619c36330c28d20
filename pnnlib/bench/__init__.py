"""Benchmark and figure harness: DSTD properties and efficiency (paper Figs. 2-3, Table 1).

Pure functions for notebooks and reports live in the submodules and are re-exported here;
``python -m pnnlib.bench <subcommand>`` is the command-line entry point (see
:mod:`pnnlib.bench.__main__` for how to add a subcommand).

* :mod:`pnnlib.bench.dstd_error` — :func:`trajectories` (Fig. 2c, d), :func:`error_vs_grid` and
  :func:`error_slopes` (Fig. 3a, b).
* :mod:`pnnlib.bench.dstd_efficiency` — :func:`efficiency` and :func:`ratios` (Fig. 3c-f).
* :mod:`pnnlib.bench.complexity` — :func:`complexity_table` (Table 1).
* :mod:`pnnlib.bench.fit` — :func:`fit_loglog_slope`.
* :mod:`pnnlib.bench.memory` — :func:`saved_tensor_bytes`, peak CUDA / RSS memory.
* :mod:`pnnlib.bench.ode` — the torchdiffeq ODE-solver baseline.
* :mod:`pnnlib.bench.plots` — the figures.
* :mod:`pnnlib.bench.harness` — devices, timing, child processes, JSON, tables.
"""

from pnnlib.bench.complexity import complexity_table, write_table
from pnnlib.bench.dstd_efficiency import EffConfig, all_ratios, efficiency, measure_config, ratios, summary
from pnnlib.bench.dstd_error import error_slopes, error_vs_grid, random_layer, trajectories, trajectory_summary
from pnnlib.bench.fit import fit_loglog_slope, loglog_line
from pnnlib.bench.harness import resolve_device
from pnnlib.bench.memory import cuda_peak_bytes, saved_tensor_bytes

__all__ = [
    "EffConfig",
    "all_ratios",
    "complexity_table",
    "cuda_peak_bytes",
    "efficiency",
    "error_slopes",
    "error_vs_grid",
    "fit_loglog_slope",
    "loglog_line",
    "measure_config",
    "random_layer",
    "ratios",
    "resolve_device",
    "saved_tensor_bytes",
    "summary",
    "trajectories",
    "trajectory_summary",
    "write_table",
]
