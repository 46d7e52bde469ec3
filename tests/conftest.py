"""Fixtures shared by every test: an isolated tool environment and session-cached renders.

Everything else the tests share lives in tests/support.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from plumbum import local

from .support import (
    INTERPRETERS,
    PYTHON_VERSIONS,
    UV,
    Render,
    TaskEnvironment,
    answers,
    contents,
    render_into,
    tool_environment,
)


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


@pytest.fixture(scope="session")
def rendered(
    copier_template: Path, tmp_path_factory: pytest.TempPathFactory, isolated_tools: dict[str, str]
) -> Iterator[Callable[[str], Path]]:
    """Render a named combination once per session and hand out its path.

    The renders are shared, so they are read-only: a test that changes one (a lock, an edit)
    works on a private_copy. At the end every render must still hold what copier wrote.
    """
    cache: dict[str, Path] = {}
    written: dict[str, dict[str, str]] = {}

    def get(name: str) -> Path:
        if name not in cache:
            destination = tmp_path_factory.mktemp("render") / name
            cache[name] = render_into(copier_template, destination, answers(name))
            written[name] = contents(cache[name])
        return cache[name]

    yield get
    changed = [name for name, path in cache.items() if contents(path) != written[name]]
    assert not changed, f"tests changed shared renders (use private_copy): {changed}"


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


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that share a module-scoped, parametrized fixture run on one xdist worker.

    Otherwise each worker that runs one of them sets the fixture up again: test_image's
    `image` would build a variant's image once per worker instead of once per run.
    """
    for item in items:
        if not isinstance(item, pytest.Function) or not hasattr(item, "callspec"):
            continue
        for name, definitions in item._fixtureinfo.name2fixturedefs.items():
            if name in item.callspec.params and definitions[-1].scope == "module":
                param = item.callspec.params[name]
                item.add_marker(pytest.mark.xdist_group(f"{name}[{param}]"))


def pytest_report_header() -> list[str]:
    return [
        f"uv: {UV}",
        f"pythons: {', '.join(sorted(INTERPRETERS))}",
        f"wanted: {', '.join(PYTHON_VERSIONS)}",
    ]
