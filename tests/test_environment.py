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


# Where each runtime dependency is used: a module imported by the code, or a tool the commands run.
USED_BY = {
    "torch": "import torch",
    "torchvision": "torchvision",
    "numpy": "import numpy",
    "scipy": "scipy",
    "matplotlib": "matplotlib",
    "papermill": "papermill",
    "snakemake": "snakemake",
    "scikit-learn": "sklearn",
    "tqdm": "tqdm",
    "pyyaml": "import yaml",
    "sky130": "sky130",
    "torchdiffeq": "torchdiffeq",
    "ipykernel": "ipykernel",
    "jupyterlab": "jupyter lab",
}


def test_every_runtime_dependency_is_used() -> None:
    """No dead dependencies: each declared package is imported by the code or run by the commands
    (jupyterlab: the README's way to open the notebooks)."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.match(r"[\w-]+", d).group(0).lower() for d in deps}
    assert names == set(USED_BY), f"declared {sorted(names)}; add a new dependency to USED_BY with where it is used"
    sources = "\n".join(
        p.read_text()
        for pattern in (
            "pnnlib/**/*.py",
            "notebooks/*.ipynb",
            "rules/*.smk",
            "Snakefile",
            "scripts/*.sh",
            "Makefile",
            "README.md",
        )
        for p in ROOT.glob(pattern)
    )
    for name, needle in USED_BY.items():
        assert needle in sources, f"{name} is declared but nothing uses it ({needle!r} not found)"
