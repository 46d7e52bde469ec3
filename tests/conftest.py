"""Fixtures shared by every test: an isolated tool environment and session-cached renders."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from copier import run_copy
from plumbum import local
from uv import find_uv_bin

from .answers import PYTHON_VERSIONS, answers

REPO_ROOT = Path(__file__).resolve().parent.parent
UV = Path(find_uv_bin())


def pyenv_interpreters() -> dict[str, Path]:
    """The newest CPython X.Y.Z build under $(pyenv root)/versions, by X.Y."""
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found: dict[str, tuple[tuple[int, ...], Path]] = {}
    for build in versions.glob("3.*"):
        if not re.fullmatch(r"3\.\d+\.\d+", build.name) or not (build / "bin/python3").exists():
            continue
        key = tuple(int(part) for part in build.name.split("."))
        minor = build.name.rsplit(".", 1)[0]
        if minor not in found or key > found[minor][0]:
            found[minor] = (key, build / "bin" / "python3")
    return {minor: path for minor, (_, path) in found.items()}


INTERPRETERS = pyenv_interpreters()


def tool_environment(settings: Path) -> dict[str, str]:
    """What the render hook and the rendered project's gates see.

    uv and the pyenv interpreters are put first on PATH, pyenv's shims are dropped (they
    obey the rendered project's .python-version), and uv may never download a Python.
    """
    kept = [
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and not entry.endswith("/shims")
    ]
    front = [str(UV.parent)] + [str(path.parent) for path in INTERPRETERS.values()]
    return {
        "PATH": os.pathsep.join(dict.fromkeys(front + kept)),
        "UV_PYTHON_DOWNLOADS": "never",
        "COPIER_SETTINGS_PATH": str(settings),
        "VIRTUAL_ENV": "",
    }


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


@pytest.fixture
def task_env(monkeypatch: pytest.MonkeyPatch) -> TaskEnvironment:
    return TaskEnvironment(monkeypatch)


@pytest.fixture(scope="session")
def copier_template_paths() -> list[str]:
    """Only the template's own files: never .git, .venv or caches of this checkout."""
    return ["copier.yml", "includes", "template", "hooks"]


@pytest.fixture(scope="session", autouse=True)
def isolated_tools(
    tmp_path_factory: pytest.TempPathFactory, sessionpatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Apply the tool environment to os.environ and to plumbum's snapshot (copier tasks)."""
    settings = tmp_path_factory.mktemp("copier-settings") / "settings.yml"
    settings.write_text("{}\n")
    environment = tool_environment(settings)
    plumbum_env = cast("dict[str, str]", local.env)
    for name, value in environment.items():
        sessionpatch.setenv(name, value)
        sessionpatch.setitem(plumbum_env, name, value)
    return environment


Render = Callable[..., Path]


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


@pytest.fixture(scope="session")
def rendered(
    copier_template: Path, tmp_path_factory: pytest.TempPathFactory, isolated_tools: dict[str, str]
) -> Callable[[str], Path]:
    """Render a named combination once per session and hand out its path."""
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            destination = tmp_path_factory.mktemp("render") / name
            cache[name] = render_into(copier_template, destination, answers(name))
        return cache[name]

    return get


@pytest.fixture
def render(copier_template: Path, tmp_path: Path) -> Render:
    """Render fresh answers into a new folder under this test's tmp_path."""
    count = 0

    def do(**data: Any) -> Path:
        nonlocal count
        count += 1
        return render_into(
            copier_template, tmp_path / f"service-{count}", {**answers("defaults"), **data}
        )

    return do


def pytest_report_header() -> list[str]:
    return [
        f"uv: {UV}",
        f"pythons: {', '.join(sorted(INTERPRETERS))}",
        f"wanted: {', '.join(PYTHON_VERSIONS)}",
    ]
