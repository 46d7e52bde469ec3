"""`copier copy`: what a service owner gets on the first render."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from copier.errors import CopierError

from .answers import (
    COMBINATIONS,
    DEFAULT_PYTHON,
    PYTHON_VERSIONS,
    QUESTIONS,
    answers,
    python_of,
)
from .conftest import INTERPRETERS, REPO_ROOT, UV, Render, TaskEnvironment
from .helpers import project_files, run

COMMON_FILES = {
    ".copier-answers.yml",
    ".dockerignore",
    ".env.example",
    ".gitignore",
    ".pre-commit-config.yaml",
    ".python-version",
    ".yamllint.yaml",
    "Dockerfile",
    "LICENSE",
    "README.md",
    "UPDATING.md",
    "compose.dev.yaml",
    "compose.yaml",
    "pyproject.toml",
    "scripts/template-update",
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/test_app.py",
    "tests/test_healthcheck.py",
    "tests/test_settings.py",
}
PACKAGE_MODULES = {
    "__init__.py",
    "__main__.py",
    "app.py",
    "checks.py",
    "healthcheck.py",
    "settings.py",
}
CI_FILES = {
    "github": {
        ".github/workflows/ci.yml",
        ".github/workflows/template-update.yml",
        ".github/dependabot.yml",
    },
    "gitlab": {".gitlab-ci.yml"},
    "none": set(),
}
JINJA_RESIDUE = re.compile(r"{{\s|\s}}|{%|%}|{#\s|\s#}")
# Expressions that CI systems and docker evaluate, legitimately written with braces.
CI_EXPRESSION = re.compile(r"\$\{\{.*?\}\}|'\{\{\.State\.Health\.Status\}\}'")


@pytest.mark.parametrize("name", COMBINATIONS)
def test_render_has_exactly_the_expected_files(rendered: Callable[[str], Path], name: str) -> None:
    project = rendered(name)
    data = yaml.safe_load((project / ".copier-answers.yml").read_text())
    package = {f"src/{data['package_name']}/{module}" for module in PACKAGE_MODULES}
    # Without a local interpreter of that version (and no downloads) the hook cannot lock.
    lock = {"uv.lock"} if data["python_version"] in INTERPRETERS else set()
    assert project_files(project) == COMMON_FILES | lock | package | CI_FILES[data["ci"]]


@pytest.mark.parametrize("name", COMBINATIONS)
def test_render_has_no_jinja_residue_or_blank_line_debris(
    rendered: Callable[[str], Path], name: str
) -> None:
    project = rendered(name)
    for relative in sorted(project_files(project) - {"uv.lock"}):
        text = (project / relative).read_text()
        residue = JINJA_RESIDUE.findall(CI_EXPRESSION.sub("", text))
        assert not residue, f"{relative}: {residue}"
        # PEP 8 wants two blank lines between Python definitions; nothing wants three.
        python = relative.endswith(".py") or text.startswith("#!/usr/bin/env python3")
        allowed = 2 if python else 1
        assert "\n" * (allowed + 2) not in text, f"{relative} has blank-line debris"
        if text:
            assert text.endswith("\n"), f"{relative}: no final newline"
            assert not text.endswith("\n\n"), f"{relative}: blank lines at the end"
        assert not re.search(r"[ \t]$", text, re.MULTILINE), f"{relative}: trailing whitespace"


@pytest.mark.parametrize("name", COMBINATIONS)
def test_toml_and_yaml_files_parse(rendered: Callable[[str], Path], name: str) -> None:
    project = rendered(name)
    for relative in project_files(project):
        path = project / relative
        if path.suffix == ".toml" or path.name == "uv.lock":
            tomllib.loads(path.read_text())
        elif path.suffix in {".yml", ".yaml"}:
            assert yaml.safe_load(path.read_text()) is not None, relative


@pytest.mark.parametrize("name", COMBINATIONS)
def test_answers_file_records_every_answer(rendered: Callable[[str], Path], name: str) -> None:
    recorded = yaml.safe_load((rendered(name) / ".copier-answers.yml").read_text())
    for key, value in answers(name).items():
        assert recorded[key] == value
    assert recorded["_src_path"]
    assert recorded["_commit"] == "99.99.99"
    for computed in ("uv_version", "base_image", "reserved_package_names"):
        assert computed not in recorded, f"computed value {computed} must not be stored"


def test_answers_drive_versions_and_names(rendered: Callable[[str], Path]) -> None:
    project = rendered("py312-image-bookworm-redis-no-ci-proprietary")
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "acme-pay"
    assert pyproject["project"]["requires-python"] == ">=3.12"
    assert pyproject["project"]["license"] == "LicenseRef-Proprietary"
    assert pyproject["project"]["scripts"] == {"acme-pay": "acme_pay_service.__main__:main"}
    assert pyproject["tool"]["ruff"]["target-version"] == "py312"
    assert pyproject["tool"]["mypy"]["python_version"] == "3.12"
    assert "Programming Language :: Python :: 3.12" in pyproject["project"]["classifiers"]
    assert any(dep.startswith("redis") for dep in pyproject["project"]["dependencies"])
    assert not any(dep.startswith("psycopg") for dep in pyproject["project"]["dependencies"])
    assert (project / ".python-version").read_text() == "3.12\n"
    dockerfile = (project / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.12-slim-bookworm\n" in dockerfile
    assert "UV_PROJECT_ENVIRONMENT=/app/.venv" in dockerfile


def test_uv_managed_python_uses_debian_slim_and_copies_the_interpreter(
    rendered: Callable[[str], Path],
) -> None:
    dockerfile = (
        rendered("py311-uv-managed-bookworm-app-venv-uv-run-all-services-gitlab") / "Dockerfile"
    ).read_text()
    assert "ARG BASE_IMAGE=debian:bookworm-slim\n" in dockerfile
    assert "uv python install" in dockerfile
    assert "COPY --from=deps /opt/python /opt/python" in dockerfile
    assert (
        'CMD ["uv", "run", "--offline", "--locked", "--no-sync", "acme-payments-api"]' in dockerfile
    )


@pytest.mark.parametrize("python_source", ["image", "uv-managed"])
def test_strip_debug_info_decides_binutils_and_strip(render: Render, python_source: str) -> None:
    stripped, kept = (
        (render(python_source=python_source, strip_debug_info=strip) / "Dockerfile").read_text()
        for strip in (True, False)
    )
    assert "install --yes --no-install-recommends binutils" in stripped
    assert "-exec strip --strip-debug {} +" in stripped
    assert "binutils" not in kept
    assert "strip" not in kept
    # Without binutils the builder of an image-mode service needs no apt at all.
    assert kept.count("apt-get install") == (python_source == "uv-managed")


def test_uv_version_is_one_value_everywhere(rendered: Callable[[str], Path]) -> None:
    project = rendered("defaults")
    questions = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())
    template_uv = questions["uv_version"]["default"]
    assert f"ghcr.io/astral-sh/uv:{template_uv}\n" in (project / "Dockerfile").read_text()
    assert f'UV_VERSION: "{template_uv}"' in (project / ".github/workflows/ci.yml").read_text()


# ---------------------------------------------------------------- the hook


# A combination whose Python this machine has, so the hook can lock it.
LOCKABLE = next(name for name in COMBINATIONS if python_of(name) in INTERPRETERS)


def test_default_python_is_the_newest_stable_one() -> None:
    assert DEFAULT_PYTHON == "3.14"
    assert PYTHON_VERSIONS[-1] == "3.15"
    assert list(QUESTIONS["python_version"]["choices"]) == list(PYTHON_VERSIONS)


def test_hook_writes_a_lock_that_matches_pyproject(rendered: Callable[[str], Path]) -> None:
    project = rendered(LOCKABLE)
    assert (project / "uv.lock").is_file()
    run(UV, "lock", "--check", cwd=project)


def test_hook_makes_the_project_a_git_repository(rendered: Callable[[str], Path]) -> None:
    project = rendered(LOCKABLE)
    assert run("git", "rev-parse", "--show-toplevel", cwd=project).stdout.strip() == str(project)


def test_render_survives_without_uv_and_says_what_to_run(
    render: Render, task_env: TaskEnvironment, capfd: pytest.CaptureFixture[str]
) -> None:
    path = task_env.get("PATH").split(os.pathsep)
    task_env.set("PATH", os.pathsep.join(entry for entry in path if not Path(entry, "uv").exists()))
    task_env.drop("UV")
    project = render(python_version=python_of(LOCKABLE))
    assert (project / "pyproject.toml").is_file()
    assert not (project / "uv.lock").exists()
    err = capfd.readouterr().err
    assert "uv was not found" in err
    assert f"cd {project} && uv lock" in err


def test_render_without_an_interpreter_of_that_version_says_what_to_run(
    render: Render, capfd: pytest.CaptureFixture[str]
) -> None:
    missing = [version for version in PYTHON_VERSIONS if version not in INTERPRETERS]
    if not missing:
        pytest.skip("every offered Python has a local interpreter here")
    project = render(python_version=missing[0])
    assert not (project / "uv.lock").exists()
    assert f"cd {project} && uv lock" in capfd.readouterr().err


def test_render_survives_an_unreachable_index(
    render: Render, task_env: TaskEnvironment, capfd: pytest.CaptureFixture[str]
) -> None:
    task_env.set("UV_DEFAULT_INDEX", "http://127.0.0.1:9/simple")
    task_env.set("UV_NO_CACHE", "1")
    project = render(python_version=python_of(LOCKABLE))
    assert (project / "pyproject.toml").is_file()
    assert not (project / "uv.lock").exists()
    err = capfd.readouterr().err
    assert "`uv lock` failed" in err
    assert f"cd {project} && uv lock" in err


# ---------------------------------------------------------------- invalid answers

INVALID_ANSWERS = {
    "empty project name": ({"project_name": "  "}, "project_name must not be empty"),
    "slug with capitals": ({"project_slug": "Acme-API"}, "project_slug must be kebab-case"),
    "slug with double hyphen": ({"project_slug": "acme--api"}, "project_slug must be kebab-case"),
    "slug starting with a digit": ({"project_slug": "1-api"}, "project_slug must be kebab-case"),
    "package with a hyphen": ({"package_name": "acme-api"}, "lowercase Python identifier"),
    "package that is a keyword": ({"package_name": "class"}, "would shadow a Python keyword"),
    "package that is stdlib": ({"package_name": "json"}, "would shadow a Python keyword"),
    "package the service imports": ({"package_name": "fastapi"}, "would shadow"),
    "package named test": ({"package_name": "test"}, "would shadow"),
    "email without at": ({"author_email": "platform.example.com"}, "author_email must be"),
    "email without domain dot": ({"author_email": "team@localhost"}, "author_email must be"),
    "port zero": ({"port": 0}, "port must be between 1 and 65535"),
    "port too high": ({"port": 65536}, "port must be between 1 and 65535"),
    "unknown python": ({"python_version": "3.9"}, "python_version"),
    "unknown venv path": ({"venv_path": "/venv"}, "venv_path"),
    "unknown service": ({"services": ["mysql"]}, "services"),
}


@pytest.mark.parametrize(("data", "message"), INVALID_ANSWERS.values(), ids=INVALID_ANSWERS)
def test_invalid_answer_is_refused_and_nothing_is_written(
    render: Render, tmp_path: Path, data: dict[str, object], message: str
) -> None:
    with pytest.raises((CopierError, ValueError)) as refused:
        render(**data)
    assert message in str(refused.value)
    assert not any(tmp_path.glob("service-*/*")), "a refused render must write nothing"
