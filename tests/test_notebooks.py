"""Every notebook in notebooks/ is stored without outputs and is parameterisable by papermill.

Fast (reads the .ipynb JSON only; no kernel).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pnnlib.pipeline import notebook_parameters
from pnnlib.pipeline.notebooks import notebook_problems

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_stored_without_outputs(path: Path) -> None:
    assert not notebook_problems(path)


def test_the_check_finds_stored_outputs(tmp_path: Path) -> None:
    nb = json.loads(NOTEBOOKS[0].read_text())
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["outputs"], code["execution_count"] = [{"output_type": "stream", "name": "stdout", "text": "x"}], 1
    (tmp_path / "dirty.ipynb").write_text(json.dumps(nb))
    assert any("outputs" in p for p in notebook_problems(tmp_path / "dirty.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_first_code_cell_is_tagged_parameters(path: Path) -> None:
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code cells"
    tags = code[0].get("metadata", {}).get("tags", [])
    assert "parameters" in tags, f"{path.name}: the first code cell must be tagged 'parameters' (papermill)"
    params = notebook_parameters(path)
    assert params, f"{path.name}: the parameters cell assigns no names"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_uses_the_project_kernel_or_none(path: Path) -> None:
    """papermill is always told ``-k pnn-imc``; a stored kernelspec, if any, should agree."""
    nb = json.loads(path.read_text())
    name = nb.get("metadata", {}).get("kernelspec", {}).get("name")
    assert name in (None, "pnn-imc", "python3"), f"{path.name}: kernelspec {name!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_every_notebook_is_wired_into_the_pipeline(path: Path) -> None:
    """A notebook that landed must be run by some stage (Snakefile's STAGE_NOTEBOOKS)."""
    snakefile = (ROOT / "Snakefile").read_text()
    assert f'"notebooks/{path.name}"' in snakefile, (
        f"{path.name} is not in STAGE_NOTEBOOKS of the Snakefile: add a rules/<stage>.smk that runs it"
    )
