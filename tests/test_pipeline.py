"""The reproduction pipeline: helpers (fast), and Snakemake itself (``-m pipeline``, slower).

The end-to-end test runs the ``smoke`` profile into a temporary results/figures folder
(``--config results_dir=... figures_dir=...``), so the committed ``figures/`` is never touched.
It needs the Jupyter kernel ``pnn-imc`` (``make setup`` / scripts/bootstrap.sh registers it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pnnlib import io, pipeline
from pnnlib.pipeline import report

ROOT = Path(__file__).resolve().parents[1]
PROFILES = sorted(p.stem for p in (ROOT / "config" / "profiles").glob("*.yaml"))
RUN = {"results_dir": "results/{profile}", "figures_dir": "figures", "kernel": "pnn-imc", "start_timeout": 300}


# ---------------------------------------------------------------------------------------------
# helpers (fast)
# ---------------------------------------------------------------------------------------------


def test_the_three_profiles_exist() -> None:
    assert {"smoke", "quick", "paper"} <= set(PROFILES)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_validates(profile: str) -> None:
    settings = pipeline.load_profile({"profile": profile, **RUN}, root=ROOT)
    assert settings["profile"] == profile
    assert settings["results_dir"] == f"results/{profile}"


@pytest.mark.parametrize(
    ("override", "names"),
    [
        ({"demo": {"steps": 0}}, ["demo.steps", "minimum"]),
        ({"demo": {"offset": "sideways"}}, ["demo.offset", "sideways"]),
        ({"demo": {"no_such_setting": 1}}, ["demo.no_such_setting", "unknown key"]),
        ({"no_such_stage": {}}, ["no_such_stage", "unknown key"]),
        ({"start_timeout": "soon"}, ["start_timeout"]),
        ({"profile": "no_such_profile"}, ["no_such_profile", "available"]),
    ],
)
def test_bad_settings_fail_naming_the_key(override: dict, names: list[str]) -> None:
    with pytest.raises(pipeline.ProfileError) as err:
        pipeline.load_profile({"profile": "smoke", **RUN, **override}, root=ROOT)
    for name in names:
        assert name in str(err.value)
    assert "\n" not in str(err.value), "one line, not a schema dump"


@pytest.mark.parametrize(
    ("override", "names"),
    [
        ({"devices": {"conditions": {"corners": ["tt", "xx"]}}}, ["devices.conditions.corners[1]", "'xx'"]),
        (
            {"devices": {"conditions": {"temperatures": [27, 130]}}},
            ["devices.conditions.temperatures[1]", "130", "maximum of 125"],
        ),
        (
            {"circuit": {"conditions": {"temperatures": [-56]}}},
            ["circuit.conditions.temperatures[0]", "minimum of -55"],
        ),
        ({"circuit": {"conditions": {"corners": ["tt\n.control"]}}}, ["circuit.conditions.corners[0]"]),
        ({"circuit": {"mismatch": {"instances": 0}}}, ["circuit.mismatch.instances", "minimum"]),
        ({"devices": {"corner": "ss_mm"}}, ["devices.corner", "ss_mm"]),
    ],
)
def test_bad_conditions_fail_naming_the_key(override: dict, names: list[str]) -> None:
    """Corners outside the sky130 library's five and temperatures outside -55 ... 125 °C never reach a deck."""
    with pytest.raises(pipeline.ProfileError) as err:
        pipeline.load_profile({"profile": "smoke", **RUN, **override}, root=ROOT)
    for name in names:
        assert name in str(err.value)


def test_cli_stage_override_strings_are_parsed() -> None:
    """``--config 'demo={steps: 7}'`` reaches us as strings; they are read as YAML."""
    settings = pipeline.load_profile({"profile": "smoke", **RUN, "demo": {"steps": "7"}}, root=ROOT)
    assert settings["demo"]["steps"] == 7
    assert (
        settings["demo"]["n_images"]
        == yaml.safe_load((ROOT / "config/profiles/smoke.yaml").read_text())["demo"]["n_images"]
    ), "other keys of the section keep the profile's values"


def test_profile_can_be_a_file_of_ones_own(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    shutil.copy(ROOT / "config/profiles/smoke.yaml", mine)
    settings = pipeline.load_profile({"profile": str(mine), **RUN}, root=ROOT)
    assert settings["profile"] == "mine"
    assert settings["results_dir"] == "results/mine"


def test_run_id_is_readable_and_stable() -> None:
    params = {"e_pos": 4.0, "steps": 3, "offset": "random", "sigma": 0.005, "seed": 0}
    assert pipeline.run_id(params, ["e_pos", "steps", "offset", "sigma", "seed"]) == "e4-m3-off_random-sig0.005-seed0"
    assert pipeline.run_id({"e_pos": 30.7, "lr": 1e-4}) == "e30.7-lr0.0001"
    assert pipeline.run_id({"name": "a b/c"}) == "name_a_b_c"


def test_expand_grid_unions_and_dedupes() -> None:
    grids = {
        "table3": {"e_pos": [1.0, 4.0], "sigma": [0.0, 0.01], "seed": [0]},
        "fig4": {"e_pos": [4.0], "sigma": [0.01], "seed": [0, 1]},
    }
    runs = pipeline.expand_grid(grids, fixed={"epochs": 2})
    assert len(runs) == 4 + 1  # (4, 0.01, 0) is in both
    assert all(r["epochs"] == 2 for r in runs.values())
    assert "e4-sig0.01-seed1" in runs
    with pytest.raises(pipeline.ProfileError, match="does not set"):
        pipeline.expand_grid({"a": {"e_pos": [1.0]}, "b": {"sigma": [0.0]}})


def test_write_json_atomic(tmp_path: Path) -> None:
    import numpy as np

    path = io.write_json_atomic(tmp_path / "a" / "m.json", {"x": np.float32(0.5), "v": np.arange(3)})
    assert io.read_json(path) == {"x": 0.5, "v": [0, 1, 2]}
    assert [p.name for p in path.parent.iterdir()] == ["m.json"], "no temporary file left behind"


def _write_notebook(path: Path, params_source: str) -> Path:
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {"tags": ["parameters"]},
                "source": params_source,
                "outputs": [],
                "execution_count": None,
            },
            {"cell_type": "code", "metadata": {}, "source": "print(x)", "outputs": [], "execution_count": None},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))
    return path


def test_notebook_parameters_and_strict_params(tmp_path: Path) -> None:
    nb = _write_notebook(tmp_path / "n.ipynb", 'x = 1\ny: float = 2.5\nname = "a"  # comment\npath = Path("p")\n')
    assert pipeline.notebook_parameters(nb) == {"x": 1, "y": 2.5, "name": "a", "path": 'Path("p")'}
    assert json.loads(pipeline.nb_params_json(nb, {"x": 3, "threads": 2}, name="b")) == {"x": 3, "name": "b"}
    with pytest.raises(pipeline.ProfileError, match="typo"):
        pipeline.nb_params_json(nb, {"typo": 1})
    with pytest.raises(ValueError, match="typo"):
        pipeline.run_notebook(nb, tmp_path / "out.ipynb", {"typo": 1})


def test_paper_values_are_cited_and_well_formed() -> None:
    paper_values = yaml.safe_load((ROOT / "config/paper_values.yaml").read_text())
    items = paper_values["items"]
    for n in range(1, 21):
        assert f"fig{n}" in items
    for n in range(1, 4):
        assert f"table{n}" in items
    keys = set()
    for item_id, item in items.items():
        assert item["kind"] in ("result", "schematic"), item_id
        assert item["spec"].startswith("§"), item_id
        for v in item.get("values", []):
            assert {"key", "quantity", "paper", "spec"} <= set(v), (item_id, v)
            assert v["spec"].startswith("§"), (item_id, v["key"])
            assert v.get("relation", "=") in ("=", "≈", "≤", "≥"), (item_id, v["key"])
            keys.add(f"{item_id}.{v['key']}")
    assert len([k for k in keys if k.startswith("table3.") and k.endswith(".accuracy")]) == 20


# ---------------------------------------------------------------------------------------------
# Snakemake (slow)
# ---------------------------------------------------------------------------------------------


def _snakemake(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def _job_counts(output: str) -> dict[str, int]:
    """Rule -> job count from Snakemake's "Job stats" table (empty when nothing is to be done)."""
    if "Nothing to be done" in output:
        return {}
    table = output.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


@pytest.mark.pipeline
@pytest.mark.parametrize("profile", PROFILES)
def test_dry_run_resolves_the_whole_dag(profile: str, tmp_path: Path) -> None:
    proc = _snakemake(
        "-n", "--config", f"profile={profile}", f"results_dir={tmp_path}/results", f"figures_dir={tmp_path}/figures"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = _job_counts(proc.stdout + proc.stderr)
    assert counts.get("report") == 1 and counts.get("all") == 1
    assert f"profile '{profile}'" in proc.stdout + proc.stderr, "the log announces the profile"


@pytest.mark.pipeline
def test_lint_is_clean() -> None:
    proc = _snakemake("--lint")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.pipeline
def test_bad_config_fails_before_any_job_naming_the_key() -> None:
    proc = _snakemake("-n", "--config", "demo={steps: 0}")
    assert proc.returncode != 0
    assert "demo.steps" in proc.stdout + proc.stderr


def _kernel_registered(name: str = "pnn-imc") -> bool:
    from jupyter_client.kernelspec import KernelSpecManager

    return name in KernelSpecManager().find_kernel_specs()


@pytest.mark.pipeline
@pytest.mark.slow
def test_smoke_profile_end_to_end(tmp_path: Path) -> None:
    """Run everything on the smoke profile; then: nothing to redo; one profile edit reruns only its jobs."""
    assert _kernel_registered(), (
        "the Jupyter kernel 'pnn-imc' is not registered: run `make setup` or "
        "python -m ipykernel install --sys-prefix --name pnn-imc "
        "--display-name 'pnn-imc (pnnlib)' --env OMP_WAIT_POLICY PASSIVE"
    )
    out = {"results_dir": str(tmp_path / "results"), "figures_dir": str(tmp_path / "figures")}
    config = [f"{k}={v}" for k, v in out.items()]

    start = time.perf_counter()
    proc = _snakemake("--cores", "2", "--config", "profile=smoke", *config, timeout=1500)
    elapsed = time.perf_counter() - start
    logs = sorted((tmp_path / "results" / "logs").rglob("*.log")) if (tmp_path / "results").exists() else []
    tails = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in logs)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:] + tails
    print(f"smoke profile: {elapsed:.0f} s")

    # (rule all needs every file the wired stages register, so they exist); the report lists every paper item
    dry = _snakemake("-n", "--config", "profile=smoke", *config)
    assert "Nothing to be done" in dry.stdout + dry.stderr, "re-running after success must do nothing"
    report_md = (tmp_path / "figures" / "REPORT.md").read_text()
    assert "Profile:** `smoke`" in report_md
    for item in yaml.safe_load((ROOT / "config/paper_values.yaml").read_text())["items"]:
        assert f"| {report._label(item)} |" in report_md
    for nb in (tmp_path / "results").rglob("notebook.ipynb"):
        assert json.loads(nb.read_text())["cells"], nb
    assert not list((tmp_path / "results").rglob("*.failed.ipynb"))

    # edit one value in a copy of the profile: only the demo (and the report, which names the
    # profile) rerun
    edited = yaml.safe_load((ROOT / "config/profiles/smoke.yaml").read_text())
    edited["demo"]["n_images"] += 1
    copy = tmp_path / "smoke_edited.yaml"
    copy.write_text(yaml.safe_dump(edited))
    dry = _snakemake("-n", "--config", f"profile={copy}", *config)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert _job_counts(dry.stdout + dry.stderr) == {"demo": 1, "report": 1, "all": 1}
