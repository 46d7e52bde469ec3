"""A template repository that releases by PEP 440 tags, built from this checkout.

Shared by the tests that update services (test_update, test_fleet): like pytest-copier's
`copier_template`, but with git tags, so copier sees releases.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .conftest import REPO_ROOT
from .helpers import run

TEMPLATE_PATHS = ("copier.yml", "template", "hooks")


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
