"""The README's promise: two commands set a fresh machine up, and CI runs the second one."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .support import PYTHON_VERSIONS, QUESTIONS, REPO_ROOT, attempt, local_pythons, run

LOCAL_PYTHON = local_pythons(PYTHON_VERSIONS)[-1]
QUICK_START = re.compile(r"## Quick start\n.*?```console\n(?P<commands>.*?)```", re.DOTALL)


def quick_start_commands() -> list[str]:
    match = QUICK_START.search((REPO_ROOT / "README.md").read_text())
    assert match, "README.md has no Quick start console block"
    return [line for line in match["commands"].splitlines() if line.strip()]


def test_quick_start_is_exactly_two_commands() -> None:
    render, test = quick_start_commands()
    assert " copy " in render
    assert "pytest" in test


def test_ci_runs_the_readme_test_command() -> None:
    _, test = quick_start_commands()
    ci_lines = (REPO_ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci_lines


def test_bootstrap_pins_the_template_uv_version() -> None:
    bootstrap = (REPO_ROOT / "scripts" / "uvw.py").read_text()
    assert f'UV_VERSION = "{QUESTIONS["uv_version"]["default"]}"' in bootstrap


def clean_checkout(destination: Path) -> Path:
    """The files git would commit, as they are now, committed and tagged in a fresh repository."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for relative in filter(None, tracked):
        source = REPO_ROOT / relative
        if source.is_file():
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    run("git", "init", "--quiet", cwd=destination)
    run("git", "add", "--all", cwd=destination)
    run("git", "commit", "--quiet", "--message", "clean checkout", cwd=destination)
    run("git", "tag", "99.99.99", cwd=destination)
    return destination


def updating_guide_command(service: Path) -> list[str]:
    """The update command the service's UPDATING.md gives, from `update` on."""
    guide = (service / "UPDATING.md").read_text()
    line = next(line for line in guide.splitlines() if line.startswith("uvx copier@"))
    arguments = shlex.split(line)
    return arguments[arguments.index("update") :]


@pytest.mark.slow
def test_render_command_works_on_a_clean_checkout_without_uv_and_its_service_updates(
    tmp_path: Path,
) -> None:
    checkout = clean_checkout(tmp_path / "copier-uv-service")
    render, _ = quick_start_commands()
    arguments = shlex.split(render)
    assert arguments[:2] == ["python3", "scripts/uvw.py"]
    # No uv anywhere on PATH: the script must fetch its own.
    path = [
        entry
        for entry in os.environ["PATH"].split(os.pathsep)
        if entry and not Path(entry, "uv").exists()
    ]
    environment = {**os.environ, "PATH": os.pathsep.join(path)}
    environment.pop("UV", None)
    # Exactly the README's line, through a shell as a person types it. A Python this
    # machine has: here uv may not download one to lock the default (3.14).
    typed = f"{render} --defaults --data python_version={LOCAL_PYTHON}"
    result = attempt("sh", "-c", typed, cwd=checkout, env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "installing uv" in result.stderr
    service = tmp_path / "my-service"
    assert (service / "uv.lock").is_file(), result.stderr
    answers = yaml.safe_load((service / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "99.99.99"

    # The service updates to a newer release of that checkout, as its UPDATING.md says.
    run("git", "add", "--all", cwd=service)
    run("git", "commit", "--quiet", "--message", "Render the service", cwd=service)
    guide = checkout / "template" / "UPDATING.md"
    guide.write_text(guide.read_text() + "\nReleased as 100.0.0.\n")
    run("git", "commit", "--quiet", "--all", "--message", "Release 100.0.0", cwd=checkout)
    run("git", "tag", "100.0.0", cwd=checkout)
    copier = arguments[: arguments.index("copy")]
    copier[1] = str(checkout / copier[1])
    result = attempt(*copier, *updating_guide_command(service), cwd=service, env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    answers = yaml.safe_load((service / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "100.0.0"
    assert (service / "UPDATING.md").read_text().endswith("\nReleased as 100.0.0.\n")
