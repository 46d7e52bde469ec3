"""git in a rendered service or a template repository."""

from __future__ import annotations

from pathlib import Path

from .commands import run


def git(*arguments: str, cwd: Path) -> str:
    return run("git", *arguments, cwd=cwd).stdout


def commit(project: Path, message: str) -> None:
    git("add", "--all", cwd=project)
    git("commit", "--quiet", "--allow-empty", "--message", message, cwd=project)


def status(project: Path) -> list[str]:
    """`git status --porcelain` lines, untracked files included."""
    return git("status", "--porcelain", "--untracked-files=all", cwd=project).splitlines()
