"""This machine's adaptations, in one place: what a developer's laptop or CI needs no thought for.

- Pythons come from pyenv builds, found by version; pyenv's shims are left off PATH (they obey
  a rendered project's .python-version) and uv may never download an interpreter.
- Linters and copier run from the template's own venv, next to this interpreter.
- The Docker images are local stand-ins (../shared/docker/provision.sh): the uv-managed base
  serves Pythons from an offline mirror of some versions only.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
from uv import find_uv_bin

from .docker import docker, run_in_python_image

UV = Path(find_uv_bin())
COPIER = Path(sys.executable).with_name("copier")
# A Python this machine has: services rendered on it lock in the hook and pass their gates on
# the host (uv may not download the default, 3.14).
HOST_PYTHON = "3.13"


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


def local_pythons(offered: tuple[str, ...]) -> list[str]:
    """The offered versions this machine has an interpreter of, oldest first."""
    return [version for version in offered if version in INTERPRETERS]


def newest_local_python(offered: tuple[str, ...]) -> str:
    """The newest offered version with a local interpreter; skip the test when there is none."""
    local = local_pythons(offered)
    if not local:
        pytest.skip("no offered Python has a local interpreter here")
    return local[-1]


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


def tool(name: str) -> Path:
    """A linter from the template's dev group, next to this interpreter (CI has no other PATH)."""
    path = Path(sys.executable).parent / name
    assert path.is_file(), f"{name} is missing: run `uv sync --locked` in the template repository"
    return path


# The local debian:*-slim stand-in's offline mirror for `uv python install`.
STAND_IN_PYTHON_MIRROR = "/opt/standin-python-mirror/python-downloads.json"


def skip_unless_uv_can_install(version: str, release: str) -> None:
    """Skip a uv-managed build that cannot work on this engine, saying exactly why.

    A real debian:*-slim lets `uv python install` download any release. This machine's
    stand-in has no network for that, only an offline mirror of some versions.
    """
    base = f"debian:{release}-slim"
    listing = docker(
        "run", "--rm", "--entrypoint", "cat", base, STAND_IN_PYTHON_MIRROR, check=False
    )
    if listing.returncode != 0:
        return  # not a stand-in: uv downloads the interpreter as in production
    offered = {
        f"{entry['major']}.{entry['minor']}" for entry in json.loads(listing.stdout).values()
    }
    if version not in offered:
        pytest.skip(
            f"uv-managed Python {version} cannot be built here: the offline Python mirror in the "
            f"local {base} stand-in only has {', '.join(sorted(offered))}"
        )


def lock_in_python_image(project: Path, uv: Path = UV) -> None:
    """`uv lock` inside python:X.Y-slim-<release>, for a Python this machine has no build of.

    The post-render hook cannot lock such a render here (uv may not download Pythons), as it
    could on a machine with that Python; the official image stands in for that machine.
    """
    if not (project / "uv.lock").exists():
        run_in_python_image(project, uv, "uv", "lock")


# Stands in for uvx in the rendered lint commands: `uvx [--from PACKAGE==X] TOOL==X ...` runs
# TOOL from this repository's venv, whose versions the tests check the pins against.
FAKE_UVX = """#!/bin/sh
if [ "$1" = --from ]; then shift 2; fi
tool=${1%%==*}
shift
exec "$TOOLS/$tool" "$@"
"""


def pinned_tools_environment(folder: Path) -> dict[str, str]:
    """os.environ with FAKE_UVX as uvx, and this venv's tools on PATH (actionlint's shellcheck)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "uvx").write_text(FAKE_UVX)
    (folder / "uvx").chmod(0o755)
    tools = Path(sys.executable).parent
    path = os.pathsep.join((str(folder), str(tools), os.environ["PATH"]))
    return {**os.environ, "PATH": path, "TOOLS": str(tools)}
