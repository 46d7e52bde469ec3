"""The rendered project's own gates pass with zero edits, for every combination."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .answers import COMBINATIONS
from .conftest import UV
from .helpers import run

pytestmark = pytest.mark.slow

GATES = (
    ("sync", ("sync", "--locked")),
    ("ruff check", ("run", "--locked", "ruff", "check")),
    ("ruff format", ("run", "--locked", "ruff", "format", "--check")),
    ("mypy", ("run", "--locked", "mypy")),
    ("pytest", ("run", "--locked", "pytest", "-p", "no:cacheprovider")),
)


@pytest.mark.parametrize("name", COMBINATIONS)
def test_rendered_project_passes_its_own_gates(rendered: Callable[[str], Path], name: str) -> None:
    project = rendered(name)
    python_version = (project / ".python-version").read_text().strip()
    for gate, arguments in GATES:
        result = run(UV, *arguments, cwd=project)
        if gate == "sync":
            venv_python = project / ".venv" / "bin" / f"python{python_version}"
            assert venv_python.exists(), f"the venv is not on Python {python_version}"
        if gate == "pytest":
            assert " passed" in result.stdout, result.stdout
            assert "failed" not in result.stdout, result.stdout
