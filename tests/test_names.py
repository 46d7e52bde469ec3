"""Names: what package_name may not shadow, and the slug a name outside ASCII derives."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from .support import PYTHON_VERSIONS, QUESTIONS, REPO_ROOT, Render, require_engine, run
from .support.machine import INTERPRETERS, UV, newest_local_python

RESERVED_LIST: list[object] = yaml.safe_load(QUESTIONS["reserved_package_names"]["default"])
RESERVED = {name for name in RESERVED_LIST if isinstance(name, str)}
# What package_name's first check lets through; the reserved list only has to cover these.
ACCEPTED_SHAPE = re.compile(r"[a-z][a-z0-9_]*")
ADD = "python3 scripts/reserved_names.py --write"
NAMES_OF_A_PYTHON = """
import json, keyword, sys
print(json.dumps(sorted({*sys.stdlib_module_names, *keyword.kwlist, *keyword.softkwlist})))
"""


def unreserved(names: set[str]) -> list[str]:
    return sorted(name for name in names if ACCEPTED_SHAPE.fullmatch(name) and name not in RESERVED)


def test_reserved_list_is_sorted_and_wrapped_as_the_script_writes_it() -> None:
    script = REPO_ROOT / "scripts" / "reserved_names.py"
    printed = run(sys.executable, script, cwd=REPO_ROOT).stdout
    assert printed in (REPO_ROOT / "includes" / "names.yml").read_text(), f"run {ADD}"
    # YAML reads bare true, null or 1e3 as other types, which a package name never equals.
    assert len(RESERVED) == len(RESERVED_LIST), "quote the names YAML does not read as strings"


def names_of_python(version: str) -> set[str]:
    """Keywords and standard-library modules of a Python: the host's build, else its image."""
    if version in INTERPRETERS:
        command = [str(INTERPRETERS[version])]
    else:
        require_engine()
        image = f"python:{version}-slim-{QUESTIONS['debian_release']['default']}"
        command = ["docker", "run", "--rm", "--network", "none", image, "python3"]
    return set(json.loads(run(*command, "-c", NAMES_OF_A_PYTHON, cwd=REPO_ROOT).stdout))


@pytest.mark.parametrize(
    "version",
    [
        pytest.param(version, marks=() if version in INTERPRETERS else pytest.mark.docker)
        for version in PYTHON_VERSIONS
    ],
)
def test_every_keyword_and_stdlib_module_of_each_offered_python_is_reserved(version: str) -> None:
    missing = unreserved(names_of_python(version))
    assert not missing, f"Python {version} brings names to reserve: {ADD} {' '.join(missing)}"


def top_level_names(site_packages: Path) -> set[str]:
    """The first path element of each file every installed distribution's RECORD lists.

    The service's own editable install lists only its .pth file and .dist-info folder.
    """
    names = set()
    for record in site_packages.glob("*.dist-info/RECORD"):
        for row in record.read_text().splitlines():
            first = row.split(",", 1)[0].split("/", 1)[0]
            if not first.endswith((".dist-info", ".data", ".pth")):
                names.add(first.split(".", 1)[0])
    return names


def normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "_", distribution).lower()


@pytest.mark.slow
def test_every_import_name_a_render_locks_is_reserved(render: Render) -> None:
    newest = newest_local_python(PYTHON_VERSIONS)
    project = render(python_version=newest, services=["postgres", "redis"], tracing=True)
    run(UV, "sync", "--locked", "--all-groups", cwd=project, timeout=900)
    (site_packages,) = (project / ".venv" / "lib").glob("python3.*/site-packages")
    installed = top_level_names(site_packages)
    assert {"fastapi", "pytest", "psycopg", "redis", "mypy", "opentelemetry"} <= installed
    # Locked for other platforms only (colorama on Windows): their name stands for the import.
    installed_distributions = {
        normalized(info.name.split("-", 1)[0]) for info in site_packages.glob("*.dist-info")
    }
    locked = tomllib.loads((project / "uv.lock").read_text())["package"]
    elsewhere = {normalized(package["name"]) for package in locked} - installed_distributions
    missing = unreserved(installed | elsewhere)
    assert not missing, f"a render locks these import names: {ADD} {' '.join(missing)}"


# ---------------------------------------------------------------- names outside ASCII


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Café Ünïcode Sërvice", "cafe-unicode-service"),
        ("Straße Øresund Łódź Æon", "strasse-oresund-lodz-aeon"),
        ("İstanbul Şehir Hatları", "istanbul-sehir-hatlari"),  # noqa: RUF001 (Turkish dotless i)
        # é typed as e and a combining accent, as macOS file names spell it.
        ("Cafe\u0301 Noir", "cafe-noir"),
        ("☕ Coffee API", "coffee-api"),
    ],
)
def test_latin_letters_with_accents_derive_their_ascii_slug(
    render: Render, name: str, slug: str
) -> None:
    project = render(project_name=name)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == slug
    assert (project / "src" / slug.replace("-", "_") / "app.py").is_file()


def test_a_name_outside_latin_renders_with_an_explicit_slug(render: Render) -> None:
    project = render(project_name="日本語 API", project_slug="nihongo-api")
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "nihongo-api"
    assert pyproject["project"]["scripts"] == {"nihongo-api": "nihongo_api.__main__:main"}
    assert 'title="日本語 API"' in (project / "src/nihongo_api/app.py").read_text()
