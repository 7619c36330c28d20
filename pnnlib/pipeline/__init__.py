"""The reproduction pipeline around the library: what the ``Snakefile``, its rules and the
notebooks share.

* :mod:`pnnlib.pipeline.profiles` — profiles (validated settings), run ids and grids;
* :mod:`pnnlib.pipeline.notebooks` — notebooks as jobs (parameters, papermill runner, shell line);
* :mod:`pnnlib.pipeline.plotting` — the figures' shared plots and style;
* :mod:`pnnlib.pipeline.report` — ``figures/REPORT.md``.

Atomic writes and JSON live one level down, in :mod:`pnnlib.io`, since training and the circuit
back end write files too.
"""

from pnnlib.pipeline.notebooks import (
    PIPELINE_KEYS,
    nb_params_json,
    notebook_parameters,
    notebook_shell,
    reset_stale_run,
    run_notebook,
)
from pnnlib.pipeline.profiles import (
    REPO_ROOT,
    ProfileError,
    expand_grid,
    load_profile,
    profile_banner,
    run_id,
)

__all__ = [
    "PIPELINE_KEYS",
    "REPO_ROOT",
    "ProfileError",
    "expand_grid",
    "load_profile",
    "nb_params_json",
    "notebook_parameters",
    "notebook_shell",
    "profile_banner",
    "reset_stale_run",
    "run_id",
    "run_notebook",
]
