"""The rendered project's own gates pass with zero edits, for every combination.

Versions with a local interpreter run on the host. The others (3.14, 3.15 here) run inside
the official `python:X.Y-slim-<release>` image with uv mounted in: lock, then the same gates.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .support import (
    GATES,
    INTERPRETERS,
    PYTHON_VERSIONS,
    QUESTIONS,
    UV,
    Render,
    newest_local_python,
    private_copy,
    python_of,
    require_engine,
    run,
    run_in_python_image,
)
from .support.answers import names

pytestmark = pytest.mark.slow

HOST_COMBINATIONS = [name for name in names("gates") if python_of(name) in INTERPRETERS]
CONTAINER_COMBINATIONS = [name for name in names("gates") if name not in HOST_COMBINATIONS]


def python_version_of(project: Path) -> str:
    return (project / ".python-version").read_text().strip()


@pytest.mark.parametrize("name", HOST_COMBINATIONS)
def test_rendered_project_passes_its_own_gates(rendered: Callable[[str], Path], name: str) -> None:
    project = rendered(name)
    outputs = [run(UV, *gate, cwd=project).stdout for gate in GATES]
    venv_python = project / ".venv" / "bin" / f"python{python_version_of(project)}"
    assert venv_python.exists(), "the venv is not on the chosen Python"
    assert " passed" in outputs[-1], outputs[-1]
    assert "failed" not in outputs[-1], outputs[-1]


def test_names_at_the_maximum_length_pass_the_gates(render: Render) -> None:
    newest = newest_local_python(PYTHON_VERSIONS)
    # Derives a project_slug and package_name of copier.yml's maximum length.
    name = "Order Fulfillment and Inventory Services"
    project = render(project_name=name, python_version=newest, services=["postgres", "redis"])
    (package,) = (project / "src").iterdir()
    assert len(package.name) == QUESTIONS["name_max_length"]["default"]
    outputs = [run(UV, *gate, cwd=project).stdout for gate in GATES]
    assert " passed" in outputs[-1], outputs[-1]
    assert "failed" not in outputs[-1], outputs[-1]


@pytest.mark.docker
@pytest.mark.parametrize("name", CONTAINER_COMBINATIONS)
def test_rendered_project_passes_its_own_gates_in_the_python_image(
    rendered: Callable[[str], Path], tmp_path: Path, name: str
) -> None:
    require_engine()
    project = private_copy(rendered(name), tmp_path / name)  # `uv lock` writes to it
    version = python_version_of(project)
    script = " && ".join(
        ["uv lock", *(" ".join(["uv", *gate]) for gate in GATES), f"python{version} --version"]
    )
    cache = ("--volume", f"{tmp_path / 'uv-cache'}:/uv-cache", "--env", "UV_CACHE_DIR=/uv-cache")
    result = run_in_python_image(
        project, UV, "sh", "-c", script, options=(*cache, "--env", "UV_LINK_MODE=copy")
    )
    assert f"Python {version}." in result.stdout, result.stdout
    assert " passed" in result.stdout, result.stdout
    assert "failed" not in result.stdout, result.stdout
