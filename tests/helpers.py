"""Small helpers for running commands in rendered projects."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATHS = ("copier.yml", "template", "hooks")


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


def git(*arguments: str, cwd: Path) -> str:
    return run("git", *arguments, cwd=cwd).stdout


def commit(project: Path, message: str) -> None:
    git("add", "--all", cwd=project)
    git("commit", "--quiet", "--allow-empty", "--message", message, cwd=project)


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of `old`; fail loudly when the anchor moved."""
    text = path.read_text()
    assert text.count(old) == 1, f"{path}: expected exactly one {old!r}"
    path.write_text(text.replace(old, new))


@dataclass
class Template:
    """A template repository that releases by PEP 440 tags, as the real one does."""

    path: Path

    @classmethod
    def from_checkout(cls, path: Path, ref: str | None = None) -> Template:
        """This checkout's template files: the working tree, or as they were at `ref`."""
        path.mkdir(parents=True)
        template = cls(path)
        template.replace_with_checkout(ref)
        git("init", "--quiet", "--initial-branch=main", cwd=path)
        return template

    def replace_with_checkout(self, ref: str | None = None) -> None:
        for name in TEMPLATE_PATHS:
            target = self.path / name
            if target.is_dir():
                shutil.rmtree(target)
            target.unlink(missing_ok=True)
        if ref is None:
            for name in TEMPLATE_PATHS:
                source = REPO_ROOT / name
                if source.is_dir():
                    ignored = shutil.ignore_patterns("__pycache__", "*.pyc")
                    shutil.copytree(source, self.path / name, ignore=ignored)
                else:
                    shutil.copy2(source, self.path / name)
            return
        archive = subprocess.run(
            ["git", "archive", "--format=tar", ref, "--", *TEMPLATE_PATHS],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(self.path, filter="data")

    def edit(self, relative: str, old: str, new: str) -> None:
        edit(self.path / relative, old, new)

    def release(self, tag: str) -> None:
        commit(self.path, f"Release {tag}")
        git("tag", tag, cwd=self.path)
