"""Post-render hook: lock the service's dependencies and make it a git repository.

Copier runs this as a task after `copier copy`, and as an "after" migration after
`copier update`, so it works once, in the real project, never in copier's temporary
copies. On update, `uv lock` keeps the project's pins and adds what the new
pyproject.toml needs. It never fails the render: when uv is missing, the index is
unreachable or the update left conflict markers in pyproject.toml, it says why and prints
the exact command to run later; when git is too old or fails, it says so; it always exits 0.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

# The first line of a conflict block that `copier update --conflict inline` writes.
CONFLICT_MARKER = re.compile(r"^<{7} ", re.MULTILINE)

# What uv's error says, in a person's words: (a phrase of uv's error, the cause).
LOCK_FAILURES = (
    ("TOML parse error", "pyproject.toml is not valid TOML; fix it"),
    ("No interpreter found", "uv found no Python that the project allows; install one"),
    ("Failed to download", "uv could not download what it needs; check the network"),
    ("Failed to fetch", "uv could not reach the package index; check the network and index"),
    ("dns error", "uv could not resolve the package index's host; check the network"),
)


def warn(message: str) -> None:
    print(f"copier-uv-service: warning: {message}", file=sys.stderr)


def relock_command(project: Path) -> str:
    return f"cd {shlex.quote(str(project))} && uv lock"


def lock_failure(stderr: str) -> str:
    """uv's own error lines, after the cause in plain words where it is a known one."""
    lines = stderr.strip().splitlines()
    first_error = next((i for i, line in enumerate(lines) if line.startswith("error:")), None)
    said = lines[first_error:] if first_error is not None else lines[-1:] or ["no output"]
    cause = next((cause for phrase, cause in LOCK_FAILURES if phrase in stderr), None)
    uv_said = "\n".join(f"    {line}".rstrip() for line in said)
    return f"{cause + '. ' if cause else ''}uv said:\n{uv_said}\n"


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
            f"then run: {relock_command(project)}"
        )
        return
    uv = find_uv()
    if uv is None:
        warn(
            "uv was not found, so uv.lock was not written. Install uv, then run: "
            f"{relock_command(project)}"
        )
        return
    result = subprocess.run([uv, "lock"], cwd=project, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        warn(
            f"`uv lock` failed, so uv.lock was not written: {lock_failure(result.stderr)}"
            f"Once that is fixed, run: {relock_command(project)}"
        )


def git_init(git: str, project: Path) -> subprocess.CompletedProcess[str]:
    """`git init` on branch main; git < 2.28 has no --initial-branch, so point HEAD there."""

    def git_run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [git, *arguments], cwd=project, capture_output=True, text=True, check=False
        )

    result = git_run("init", "--quiet", "--initial-branch=main")
    if result.returncode != 0:
        result = git_run("init", "--quiet")
        if result.returncode == 0:
            result = git_run("symbolic-ref", "HEAD", "refs/heads/main")
    return result


def ensure_git_repository(project: Path) -> None:
    """`git init` unless the project already sits inside a work tree."""
    command = f"cd {shlex.quote(str(project))} && git init"
    git = shutil.which("git")
    if git is None:
        warn(f"git was not found; before `copier update`, run: {command}")
        return
    inside = subprocess.run(
        [git, "rev-parse", "--is-inside-work-tree"],
        cwd=project,
        capture_output=True,
        check=False,
    )
    if inside.returncode == 0:
        return
    result = git_init(git, project)
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[:1] or ["no output"]
        warn(f"`git init` failed ({detail[0]}); before `copier update`, run: {command}")


def main() -> int:
    project = Path.cwd()
    for step, action in (("locking", lock), ("git init", ensure_git_repository)):
        try:
            action(project)
        except Exception as error:
            # Copier deletes a render whose task fails: an unexpected error must not cost it.
            warn(f"{step} failed unexpectedly ({error!r}); the render is kept.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
