"""`copier copy`: what a service owner gets on the first render."""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from copier.errors import CopierError

from .support import (
    COMBINATIONS,
    DEFAULT_PYTHON,
    INTERPRETERS,
    PYTHON_VERSIONS,
    QUESTIONS,
    REPO_ROOT,
    UV,
    Render,
    TaskEnvironment,
    answers,
    project_files,
    python_of,
    render_into,
    run,
)

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
    "audit-ignores.toml",
    "compose.dev.yaml",
    "compose.yaml",
    "docker-bake.hcl",
    "pyproject.toml",
    "scripts/audit.py",
    "scripts/scan-image",
    "scripts/smoke-test",
    "scripts/template-update",
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/test_app.py",
    "tests/test_drain.py",
    "tests/test_healthcheck.py",
    "tests/test_logs.py",
    "tests/test_settings.py",
}
PACKAGE_MODULES = {
    "__init__.py",
    "__main__.py",
    "app.py",
    "checks.py",
    "drain.py",
    "healthcheck.py",
    "logs.py",
    "settings.py",
}
# With PostgreSQL: the models and Alembic's migrations, shipped inside the package.
POSTGRES_MODULES = {
    "models.py",
    "migrations/__init__.py",
    "migrations/__main__.py",
    "migrations/env.py",
    "migrations/script.py.mako",
    "migrations/versions/__init__.py",
    "migrations/versions/revision_0001_create_items.py",
}
# With metrics: the Prometheus instrumentation and its tests.
METRICS_FILES = {"src/{package}/metrics.py", "tests/test_metrics.py"}
KUBERNETES_FILES = {
    f"deploy/kubernetes/{name}"
    for name in (
        "base/kustomization.yaml",
        "base/serviceaccount.yaml",
        "base/deployment.yaml",
        "base/service.yaml",
        "base/poddisruptionbudget.yaml",
        "base/horizontalpodautoscaler.yaml",
        "overlays/dev/kustomization.yaml",
        "overlays/prod/kustomization.yaml",
    )
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
# A CI expression may span the lines of a folded YAML string.
CI_EXPRESSION = re.compile(r"\$\{\{.*?\}\}|'\{\{\.State\.Health\.Status\}\}'", re.DOTALL)


@pytest.mark.parametrize("name", COMBINATIONS)
def test_render_has_exactly_the_expected_files(rendered: Callable[[str], Path], name: str) -> None:
    project = rendered(name)
    data = yaml.safe_load((project / ".copier-answers.yml").read_text())
    postgres = "postgres" in data["services"]
    modules = PACKAGE_MODULES | (POSTGRES_MODULES if postgres else set())
    package = {f"src/{data['package_name']}/{module}" for module in modules}
    package |= {"tests/test_migrations.py"} if postgres else set()
    if data["tracing"]:
        package |= {f"src/{data['package_name']}/tracing.py", "tests/test_tracing.py"}
    # Without a local interpreter of that version (and no downloads) the hook cannot lock.
    lock = {"uv.lock"} if data["python_version"] in INTERPRETERS else set()
    deploy = set()
    if data["deploy"] == "kubernetes":
        deploy = KUBERNETES_FILES | (
            {"deploy/kubernetes/base/migrate-job.yaml"} if "postgres" in data["services"] else set()
        )
    metrics = {name.format(package=data["package_name"]) for name in METRICS_FILES}
    package |= metrics if data["metrics"] else set()
    publish = set()
    if data["ci"] == "github" and data.get("publish_image"):
        publish = {".github/workflows/publish.yml"}
    strip = {"scripts/strip_debug_info.py"} if data["strip_debug_info"] else set()
    expected = COMMON_FILES | lock | package | deploy | CI_FILES[data["ci"]] | publish | strip
    assert project_files(project) == expected


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
        python = relative.endswith((".py", ".py.mako")) or text.startswith("#!/usr/bin/env python3")
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
    for computed in ("uv_version", "ci_publishes_image", "reserved_package_names"):
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


# The first lines and the closing line each license's text must have, and pyproject's value.
LICENSES = {
    "MIT": (("MIT License", "", "Copyright (c) {author}"), "SOFTWARE.", "MIT"),
    "Apache-2.0": (
        ("Apache License", "Version 2.0, January 2004", "http://www.apache.org/licenses/"),
        "Copyright {author}",
        "Apache-2.0",
    ),
    "Proprietary": (
        ("Copyright (c) {author}. All rights reserved.",),
        "holder.",
        "LicenseRef-Proprietary",
    ),
}


@pytest.mark.parametrize("license_", QUESTIONS["license"]["choices"].values())
def test_license_file_is_the_chosen_license_in_full(
    rendered: Callable[[str], Path], license_: str
) -> None:
    name = next(name for name in COMBINATIONS if answers(name).get("license", "MIT") == license_)
    project = rendered(name)
    data = yaml.safe_load((project / ".copier-answers.yml").read_text())
    first, last, spdx = LICENSES[license_]
    lines = [line.strip() for line in (project / "LICENSE").read_text().splitlines()]
    author = data["author_name"]
    assert lines[: len(first)] == [line.format(author=author) for line in first]
    assert lines[-1] == last.format(author=author)
    assert tomllib.loads((project / "pyproject.toml").read_text())["project"]["license"] == spdx
    others = {other for other in LICENSES if other != license_}
    text = "\n".join(lines)
    assert not [other for other in others if LICENSES[other][0][0].format(author=author) in text]


def test_uv_managed_python_uses_debian_slim_and_copies_the_interpreter(
    rendered: Callable[[str], Path],
) -> None:
    dockerfile = (
        rendered("py311-uv-managed-bookworm-app-venv-uv-run-all-services-gitlab") / "Dockerfile"
    ).read_text()
    assert "ARG BASE_IMAGE=debian:bookworm-slim\n" in dockerfile
    assert "uv python install" in dockerfile
    # From the stage that trims it: the deps stage keeps the whole interpreter to build with.
    assert "FROM deps AS python\n" in dockerfile
    assert "COPY --from=python /opt/python /opt/python" in dockerfile
    assert (
        'CMD ["uv", "run", "--offline", "--locked", "--no-sync", "acme-payments-api"]' in dockerfile
    )


@pytest.mark.parametrize(("release", "debian"), [("bookworm", 12), ("trixie", 13)])
def test_distroless_runtime_is_the_release_cc_image_and_the_builder_stays_slim(
    render: Render, release: str, debian: int
) -> None:
    project = render(
        python_version="3.13",
        python_source="uv-managed",
        runtime_base="distroless",
        debian_release=release,
    )
    dockerfile = (project / "Dockerfile").read_text()
    assert f"ARG BASE_IMAGE=debian:{release}-slim\n" in dockerfile
    assert f"ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian{debian}\n" in dockerfile
    stages = {name: base for base, name in re.findall(r"(?m)^FROM (\S+) AS (\S+)$", dockerfile)}
    assert stages["runtime"] == "${RUNTIME_IMAGE}"
    assert stages["deps"] == "${BASE_IMAGE}"
    runtime = dockerfile.split("AS runtime\n", 1)[1]
    assert re.findall(r"(?m)^RUN\b", runtime) == [], "distroless has no shell to RUN with"


def stages(dockerfile: str) -> dict[str, str]:
    """A Dockerfile's stages by name, each from its FROM line to its last instruction."""
    parts = re.split(r"(?m)^(?=FROM )", dockerfile)
    return {
        re.findall(r"AS (\S+)", part)[0]: re.sub(r"(\n#[^\n]*|\n)*$", "", part)
        for part in parts
        if part.startswith("FROM ")
    }


def test_distroless_changes_the_runtime_and_drops_the_builders_apt_step(render: Render) -> None:
    answers = {"python_version": "3.13", "python_source": "uv-managed"}
    slim = stages((render(**answers) / "Dockerfile").read_text())
    distroless = stages((render(**answers, runtime_base="distroless") / "Dockerfile").read_text())
    for name in ("uv", "builder", "dev"):
        assert distroless[name] == slim[name], name
    # deps only loses its apt step: distroless brings its own CA certificates.
    apt_step = re.compile(r"# Debian packages.*?\n\n(?=# uv comes from)", re.DOTALL)
    assert "install --yes --no-install-recommends ca-certificates\n" in slim["deps"]
    assert distroless["deps"] == apt_step.sub("", slim["deps"])
    assert distroless["python"].startswith(slim["python"])
    assert set(distroless) - set(slim) == {"distroless"}
    assert slim["runtime"].startswith("FROM ${BASE_IMAGE} AS runtime")


STRIP_STEP = (
    "    --mount=type=bind,source=scripts/strip_debug_info.py,target=/tmp/strip_debug_info.py \\\n"
)


@pytest.mark.parametrize("python_source", ["image", "uv-managed"])
def test_strip_debug_info_runs_the_services_script_without_apt(
    render: Render, python_source: str
) -> None:
    stripped, kept = (
        render(python_source=python_source, strip_debug_info=strip) for strip in (True, False)
    )
    deps = stages((stripped / "Dockerfile").read_text())["deps"]
    assert STRIP_STEP in deps
    assert deps.endswith("\n    && /opt/venv/bin/python /tmp/strip_debug_info.py /opt/venv")
    assert (stripped / "scripts/strip_debug_info.py").is_file()
    assert "\n!scripts/strip_debug_info.py\n" in (stripped / ".dockerignore").read_text()
    assert not (kept / "scripts/strip_debug_info.py").exists()
    assert "strip" not in (kept / "Dockerfile").read_text()
    assert "strip" not in (kept / ".dockerignore").read_text()
    # apt runs only where Debian packages are needed: with python_source=image, nowhere; with
    # uv-managed, in deps for the CA certificates the runtime copies.
    for project in (stripped, kept):
        dockerfile = (project / "Dockerfile").read_text()
        installed = re.findall(r"apt-get install --yes --no-install-recommends (.+)", dockerfile)
        assert installed == (["ca-certificates"] if python_source == "uv-managed" else [])
        assert "apt-get" not in stages(dockerfile)["runtime"]


# A row that strips debug info and builds offline (with Debian packages to export).
OFFLINE_STRIPPED = next(
    name
    for name in COMBINATIONS
    if answers(name).get("offline_build") and answers(name).get("strip_debug_info")
)


def test_an_offline_build_strips_with_the_services_script(
    rendered: Callable[[str], Path],
) -> None:
    dockerfile = (rendered(OFFLINE_STRIPPED) / "Dockerfile").read_text()
    deps = stages(dockerfile)["deps"]
    exported = stages(dockerfile)["apt-fill"].split("--download-only", 1)[1]
    assert "--mount=type=bind,from=uv-cache,target=/uv-cache,rw" in deps
    assert STRIP_STEP in deps
    assert "binutils" not in dockerfile
    assert exported.split("&&", 1)[0].split() == ["\\", "libpq-dev", "libpq5", "libxml2", "\\"]


def test_an_offline_build_without_debian_packages_exports_no_apt(render: Render) -> None:
    dockerfile = (render(python_version="3.13", offline_build=True) / "Dockerfile").read_text()
    assert "apt" not in dockerfile
    export = stages(dockerfile)["uv-cache-export"]
    assert export == "FROM scratch AS uv-cache-export\nCOPY --from=uv-cache-fill /uv-cache /"
    assert STRIP_STEP in dockerfile


def test_uv_version_is_one_value_everywhere(rendered: Callable[[str], Path]) -> None:
    project = rendered("defaults")
    template_uv = QUESTIONS["uv_version"]["default"]
    assert f"ghcr.io/astral-sh/uv:{template_uv}\n" in (project / "Dockerfile").read_text()
    assert f'UV_VERSION: "{template_uv}"' in (project / ".github/workflows/ci.yml").read_text()


# ---------------------------------------------------------------- the build context


def dockerignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore leaves the path out of the context: as Docker reads it, the last
    pattern matching the path or a folder it is in decides, and a `!` pattern lets it back in."""
    parts = relative.split("/")
    paths = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        bare = pattern.removeprefix("!")
        if any(
            fnmatch.fnmatchcase(path, bare) or fnmatch.fnmatchcase(path, bare.removeprefix("**/"))
            for path in paths
        ):
            ignored = not pattern.startswith("!")
    return ignored


def context_reads(dockerfile: str) -> set[str]:
    """What the Dockerfile takes from the build context: COPY sources and bind-mount sources."""
    copied = re.findall(r"^COPY (?!--from=)(.+) \S+$", dockerfile, re.MULTILINE)
    sources = {word for line in copied for word in line.split() if not word.startswith("--")}
    return sources | set(re.findall(r"--mount=type=bind,source=([^,\s]+)", dockerfile))


@pytest.mark.parametrize("name", COMBINATIONS)
def test_the_build_context_has_what_the_dockerfile_reads_and_no_build_tooling(
    rendered: Callable[[str], Path], name: str
) -> None:
    project = rendered(name)
    lines = (project / ".dockerignore").read_text().splitlines()
    patterns = [line for line in lines if line and not line.startswith("#")]
    reads = context_reads((project / "Dockerfile").read_text())
    assert {"pyproject.toml", "uv.lock", ".python-version", "README.md", "src"} <= reads
    assert not [path for path in reads if dockerignored(path, patterns)]
    # An exception lets back in only a file the build reads.
    exceptions = {pattern[1:] for pattern in patterns if pattern.startswith("!")}
    assert exceptions <= reads
    # docker buildx bake reads docker-bake.hcl from the folder, not from the context.
    tooling = [
        path
        for path in project_files(project)
        if path == "docker-bake.hcl" or path.startswith("scripts/")
    ]
    assert "docker-bake.hcl" in tooling
    assert sorted(path for path in tooling if not dockerignored(path, patterns)) == sorted(
        exceptions
    )


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
    err = capfd.readouterr().err
    assert "uv found no Python that the project allows" in err
    assert f"No interpreter found for Python {missing[0]}" in err  # uv's own words
    assert f"cd {project} && uv lock" in err


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
    assert "uv could not reach the package index" in err
    assert "Connection refused" in err  # uv's own words
    assert f"cd {project} && uv lock" in err


def test_lock_failure_names_the_real_cause_and_quotes_the_path(tmp_path: Path) -> None:
    """Not every `uv lock` failure is an unreachable index: here pyproject.toml is broken."""
    project = tmp_path / "my services" / "acme"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "acme"\ndependencies = ["x"\n')
    result = run(sys.executable, REPO_ROOT / "hooks" / "post_render.py", cwd=project)
    assert "pyproject.toml is not valid TOML" in result.stderr
    assert "TOML parse error" in result.stderr
    assert "index is reachable" not in result.stderr
    assert f"cd '{project}' && uv lock" in result.stderr


def test_commands_the_hook_prints_quote_the_project_path(
    copier_template: Path,
    tmp_path: Path,
    task_env: TaskEnvironment,
    capfd: pytest.CaptureFixture[str],
) -> None:
    path = task_env.get("PATH").split(os.pathsep)
    task_env.set("PATH", os.pathsep.join(entry for entry in path if not Path(entry, "uv").exists()))
    task_env.drop("UV")
    project = render_into(
        copier_template,
        tmp_path / "my services" / "acme",
        {**answers("defaults"), "python_version": python_of(LOCKABLE)},
    )
    command = capfd.readouterr().err.split("then run: ")[1].splitlines()[0]
    assert command == f"cd '{project}' && uv lock"
    assert shlex.split(command)[1] == str(project)


def test_render_survives_a_git_without_initial_branch(
    render: Render, tmp_path: Path, task_env: TaskEnvironment
) -> None:
    """git < 2.28 refuses `git init --initial-branch`: the hook must not lose the render."""
    real_git = shutil.which("git", path=task_env.get("PATH"))
    old_git = tmp_path / "old-git" / "git"
    old_git.parent.mkdir()
    old_git.write_text(
        "#!/bin/sh\n"
        'for argument in "$@"; do\n'
        '  case "$argument" in --initial-branch*)\n'
        '    echo "error: unknown option \\`initial-branch=main\'" >&2; exit 129;;\n'
        "  esac\n"
        "done\n"
        f'exec {real_git} "$@"\n'
    )
    old_git.chmod(0o755)
    task_env.set("PATH", f"{old_git.parent}{os.pathsep}{task_env.get('PATH')}")
    refused = subprocess.run(
        [old_git, "init", "--initial-branch=main"], cwd=tmp_path, capture_output=True, check=False
    )
    assert refused.returncode == 129, "the stand-in must refuse --initial-branch like old git"

    project = render(python_version=python_of(LOCKABLE))
    assert (project / "uv.lock").is_file()
    assert run("git", "rev-parse", "--show-toplevel", cwd=project).stdout.strip() == str(project)
    assert run("git", "symbolic-ref", "HEAD", cwd=project).stdout.strip() == "refs/heads/main"


# ---------------------------------------------------------------- long names

# The longest project_slug and package_name the validators accept.
NAME_MAX: int = QUESTIONS["name_max_length"]["default"]
# Derives a project_slug and package_name of exactly NAME_MAX characters.
LONGEST_NAME = "Order Fulfillment and Inventory Services"
# Every answer that lengthens a line holding the slug or the package name.
LONG_LINES = {
    "venv_path": "/app/.venv",
    "entrypoint": "uv-run",
    "port": 65535,
    "services": ["postgres", "redis"],
    "publish_image": True,
    "index_url": "https://pypi.example.com/simple/",
    "ca_bundle": "runtime",
    "offline_build": True,
    "strip_debug_info": False,
    "deploy": "kubernetes",
}


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_names_at_the_maximum_length_fit_every_line(render: Render, ci: str) -> None:
    project = render(project_name=LONGEST_NAME, ci=ci, **LONG_LINES)
    data = yaml.safe_load((project / ".copier-answers.yml").read_text())
    slug, package = data["project_slug"], data["package_name"]
    assert len(slug) == len(package) == NAME_MAX
    for relative in sorted(project_files(project) - {"uv.lock"}):
        for number, line in enumerate((project / relative).read_text().splitlines(), 1):
            if slug in line or package in line:
                assert len(line) <= 100, f"{relative}:{number} has {len(line)} columns: {line}"


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
    "package that is stdlib in 3.9+": ({"package_name": "zoneinfo"}, "would shadow"),
    "package that is stdlib in 3.14+": ({"package_name": "annotationlib"}, "would shadow"),
    "package a dev tool imports": ({"package_name": "packaging"}, "would shadow"),
    "package a driver imports": ({"package_name": "psycopg_binary"}, "would shadow"),
    "package with a leading underscore": ({"package_name": "_pytest"}, "starts with a letter"),
    "slug over the maximum": (
        {"project_slug": "a" * (NAME_MAX + 1)},
        "project_slug must be at most",
    ),
    "package over the maximum": (
        {"project_slug": "acme", "package_name": "a" * (NAME_MAX + 1)},
        "package_name must be at most",
    ),
    "derived slug over the maximum": (
        # Within the name's limit, but ß is spelled ss: the slug grows past its own.
        {"project_name": "Straße" * 6 + "ßß"},
        f"project_slug must be at most {NAME_MAX} characters, not 46",
    ),
    "name outside Latin, no slug": (
        {"project_name": "日本語 API"},
        'project_slug cannot be derived from project_name: "日本語" has no ASCII spelling',
    ),
    "name with a letter outside Latin": ({"project_name": "Phở Service"}, '"ở" has no ASCII'),
    "email without at": ({"author_email": "platform.example.com"}, "author_email must be"),
    "email without domain dot": ({"author_email": "team@localhost"}, "author_email must be"),
    "port zero": ({"port": 0}, "port must be between 1 and 65535"),
    "port too high": ({"port": 65536}, "port must be between 1 and 65535"),
    "unknown python": ({"python_version": "3.9"}, "python_version"),
    "unknown venv path": ({"venv_path": "/venv"}, "venv_path"),
    "offline with uv-managed": (
        {"offline_build": True, "python_source": "uv-managed"},
        "python_source=uv-managed downloads Python while building, which an offline build",
    ),
    "distroless with python:slim": (
        {"runtime_base": "distroless"},
        "runtime_base=distroless needs python_source=uv-managed: python:slim's interpreter",
    ),
    "distroless with runtime packages": (
        {"runtime_base": "distroless", "python_source": "uv-managed", "runtime_packages": "libpq5"},
        "runtime_packages need apt, which a distroless runtime does not have",
    ),
    "distroless with the CA bundle in the runtime": (
        {"runtime_base": "distroless", "python_source": "uv-managed", "ca_bundle": "runtime"},
        "ca_bundle=runtime needs update-ca-certificates in the runtime, which distroless has not",
    ),
    "unknown service": ({"services": ["mysql"]}, "services"),
    "index url with a token in its query": (
        {"index_url": "https://pypi.example.com/simple/?token=s3cr3t"},
        "without credentials, query string, fragment",
    ),
    "index url with a fragment": (
        {"index_url": "https://pypi.example.com/simple/#sha"},
        "without credentials, query string, fragment",
    ),
}


@pytest.mark.parametrize(("data", "message"), INVALID_ANSWERS.values(), ids=INVALID_ANSWERS)
def test_invalid_answer_is_refused_and_nothing_is_written(
    render: Render, tmp_path: Path, data: dict[str, object], message: str
) -> None:
    with pytest.raises((CopierError, ValueError)) as refused:
        render(**data)
    assert message in str(refused.value)
    assert not any(tmp_path.glob("service-*/*")), "a refused render must write nothing"


def test_copier_cli_ends_a_refusal_with_the_reason(copier_template: Path, tmp_path: Path) -> None:
    """Copier prints a traceback for a refused answer; the validator's line comes last."""
    copier = Path(sys.executable).with_name("copier")
    token_url = "index_url=https://pypi.example.com/simple/?token=s3cr3t"
    result = subprocess.run(
        [copier, "copy", "--trust", "--defaults", "--data", token_url, copier_template, "service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "ValueError: Validation error for question 'index_url': index_url must be an http(s) URL "
        "without credentials, query string, fragment or spaces, like "
        "https://pypi.example.com/simple/ (uv reads the login from .netrc or "
        "UV_INDEX_<NAME>_USERNAME and _PASSWORD)"
    )
    assert not (tmp_path / "service").exists()
