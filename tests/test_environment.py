"""environment.yml (conda) and pyproject.toml (pip) declare the same pinned stack."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {m.group(1).lower(): m.group(2) for d in deps if (m := re.match(r"([\w-]+)==([\w.]+)", d))}


def test_conda_environment_pins_match_pyproject() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {}
    pip: list[str] = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip += dep["pip"]
        else:
            name, _, version = dep.partition("=")
            conda[name] = version
    pins = _pins()
    assert conda["pytorch"] == pins["torch"]
    assert conda["torchvision"] == pins["torchvision"]
    assert "ngspice" in conda and "python" in conda
    assert any(p.startswith("-e .") for p in pip), "the rest must come from pyproject via pip -e ."


def test_every_runtime_dependency_the_issue_names_is_declared() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.match(r"[\w-]+", d).group(0).lower() for d in deps}
    for name in ["torch", "torchvision", "numpy", "scipy", "matplotlib", "seaborn", "pyspice",
                 "papermill", "jupyterlab", "ipykernel", "snakemake", "scikit-learn", "tqdm",
                 "pyyaml", "sky130"]:
        assert name in names, name
