"""Small helpers for running commands in rendered projects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# A rendered project's own gates, as `uv` arguments: what its CI runs.
GATES = (
    ("sync", "--locked"),
    ("run", "--locked", "ruff", "check"),
    ("run", "--locked", "ruff", "format", "--check"),
    ("run", "--locked", "mypy"),
    ("run", "--locked", "pytest", "-p", "no:cacheprovider"),
)


def run(*command: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise with its whole output, so the test report says why."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"`{' '.join(map(str, command))}` exited {result.returncode} in {cwd}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def project_files(project: Path) -> set[str]:
    """Every file of a rendered project, relative, ignoring .git and tool caches."""
    skipped = {".git", ".venv", ".mypy_cache", ".pytest_cache", ".ruff_cache", "__pycache__"}
    return {
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file() and not skipped.intersection(path.relative_to(project).parts)
    }


def tool(name: str) -> Path:
    """A linter from the template's dev group, next to this interpreter (CI has no other PATH)."""
    path = Path(sys.executable).parent / name
    assert path.is_file(), f"{name} is missing: run `uv sync --locked` in the template repository"
    return path
