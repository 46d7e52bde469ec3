"""Post-render hook: lock the service's dependencies and make it a git repository.

Copier runs this as a task after `copier copy`, and as an "after" migration after
`copier update`, so it works once, in the real project, never in copier's temporary
copies. On update, `uv lock` keeps the project's pins and adds what the new
pyproject.toml needs. It never fails the render: when uv is missing, the index is
unreachable or the update left conflict markers in pyproject.toml, it prints the exact
command to run later and exits 0.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# The first line of a conflict block that `copier update --conflict inline` writes.
CONFLICT_MARKER = re.compile(r"^<{7} ", re.MULTILINE)


def warn(message: str) -> None:
    print(f"copier-uv-service: warning: {message}", file=sys.stderr)


def find_uv() -> str | None:
    """uv from $UV (set by `uv run`/`uvx` for their children), else from PATH."""
    candidate = os.environ.get("UV")
    if candidate and Path(candidate).is_file():
        return candidate
    return shutil.which("uv")


def lock(project: Path) -> None:
    """Create or refresh uv.lock; on failure say how to do it by hand."""
    pyproject = project / "pyproject.toml"
    if pyproject.is_file() and CONFLICT_MARKER.search(pyproject.read_text()):
        warn(
            "pyproject.toml has conflict markers, so uv.lock was not refreshed. Resolve them, "
            f"then run: cd {project} && uv lock"
        )
        return
    uv = find_uv()
    if uv is None:
        warn(
            "uv was not found, so uv.lock was not written. Install uv, then run: "
            f"cd {project} && uv lock"
        )
        return
    result = subprocess.run([uv, "lock"], cwd=project, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1:] or ["no output"]
        warn(
            f"`uv lock` failed ({detail[0]}). When the index is reachable, run: "
            f"cd {project} && uv lock"
        )


def ensure_git_repository(project: Path) -> None:
    """`git init` unless the project already sits inside a work tree."""
    git = shutil.which("git")
    if git is None:
        warn(f"git was not found; run `git init` in {project} before `copier update`.")
        return
    inside = subprocess.run(
        [git, "rev-parse", "--is-inside-work-tree"],
        cwd=project,
        capture_output=True,
        check=False,
    )
    if inside.returncode != 0:
        subprocess.run([git, "init", "--quiet", "--initial-branch=main"], cwd=project, check=True)


def main() -> int:
    project = Path.cwd()
    lock(project)
    ensure_git_repository(project)
    return 0


if __name__ == "__main__":
    sys.exit(main())
