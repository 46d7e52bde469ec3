"""Post-render hook: lock the service's dependencies and make it a git repository.

Copier runs this as a task after `copier copy`, and as an "after" migration after
`copier update`, so it works once, in the real project, never in copier's temporary
copies. It never fails the render: when uv is missing or cannot reach the index, it
prints the exact command to run later and exits 0.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def warn(message: str) -> None:
    print(f"copier-uv-service: warning: {message}", file=sys.stderr)


def find_uv() -> str | None:
    """uv from $UV (set by `uv run`/`uvx` for their children), else from PATH."""
    candidate = os.environ.get("UV")
    if candidate and Path(candidate).is_file():
        return candidate
    return shutil.which("uv")


def lock(project: Path) -> bool:
    """Create or refresh uv.lock; on failure say how to do it by hand."""
    uv = find_uv()
    if uv is None:
        warn(f"uv was not found, so uv.lock was not written. Install uv, then run: cd {project} && uv lock")
        return False
    result = subprocess.run(
        [uv, "lock"], cwd=project, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1:] or ["no output"]
        warn(f"`uv lock` failed ({detail[0]}). When the index is reachable, run: cd {project} && uv lock")
        return False
    return True


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
