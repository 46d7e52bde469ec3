"""Rendering services with copier (the API and the CLI owners run) and updating them."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from copier import run_copy
from plumbum import local

from .commands import run
from .git import commit
from .machine import COPIER, HOST_PYTHON
from .template import Template

Render = Callable[..., Path]

# A rendered project's own gates, as `uv` arguments: what its CI runs.
GATES = (
    ("sync", "--locked"),
    ("run", "--locked", "ruff", "check"),
    ("run", "--locked", "ruff", "format", "--check"),
    ("run", "--locked", "mypy"),
    ("run", "--locked", "pytest", "-p", "no:cacheprovider"),
)
PROJECT_NAME = "Acme Payments API"
# The owner's service runs on a Python this machine has, so the hook can lock it here.
OWNER_PYTHON = HOST_PYTHON
UPDATE = ("update", "--trust", "--defaults")


def render_into(template: Path, destination: Path, data: dict[str, Any]) -> Path:
    """`copier copy` with the given answers and defaults for the rest."""
    run_copy(
        str(template),
        destination,
        data=data,
        defaults=True,
        unsafe=True,
        quiet=True,
    )
    return destination


def project_files(project: Path) -> set[str]:
    """Every file of a rendered project, relative, ignoring .git and tool caches."""
    skipped = {".git", ".venv", ".mypy_cache", ".pytest_cache", ".ruff_cache", "__pycache__"}
    return {
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file() and not skipped.intersection(path.relative_to(project).parts)
    }


def contents(project: Path) -> dict[str, str]:
    """Each file of a rendered project (as project_files lists them) and its content's hash."""
    return {
        relative: hashlib.sha256((project / relative).read_bytes()).hexdigest()
        for relative in sorted(project_files(project))
    }


def private_copy(project: Path, destination: Path) -> Path:
    """A copy of a shared render for a test that changes it: without its venv and caches."""
    shutil.copytree(project, destination, ignore=shutil.ignore_patterns(".venv", ".*_cache"))
    return destination


def answers_of(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return data


class TaskEnvironment:
    """Set or drop variables for copier tasks: os.environ and plumbum's snapshot alike."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self._plumbum_env = cast("dict[str, str]", local.env)

    def get(self, name: str) -> str:
        return self._plumbum_env[name]

    def set(self, name: str, value: str) -> None:
        self._monkeypatch.setenv(name, value)
        self._monkeypatch.setitem(self._plumbum_env, name, value)

    def drop(self, name: str) -> None:
        self._monkeypatch.delenv(name, raising=False)
        self._monkeypatch.delitem(self._plumbum_env, name, raising=False)


# ---------------------------------------------------------------- the CLI an owner runs


def copier(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run(COPIER, *arguments, cwd=cwd)


def render_release(template: Template, destination: Path, ref: str, *options: str) -> Path:
    """`copier copy` at a release, then the owner's first commit."""
    copier(
        "copy",
        "--trust",
        "--defaults",
        "--vcs-ref",
        ref,
        "--data",
        f"project_name={PROJECT_NAME}",
        "--data",
        f"python_version={OWNER_PYTHON}",
        *options,
        str(template.path),
        str(destination),
        cwd=template.path.parent,
    )
    commit(destination, f"Render the service from {ref}")
    return destination


def update(project: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """The command UPDATING.md gives owners (test_updating_guide_... keeps them equal)."""
    return copier(*UPDATE, *options, cwd=project)
