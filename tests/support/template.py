"""This checkout as a template repository: its questions, its releases, clones released by tag."""

from __future__ import annotations

import functools
import io
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from copier._template import load_template_config
from packaging.version import InvalidVersion, Version

from .commands import edit
from .git import commit, git

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATHS = ("copier.yml", "includes", "template", "hooks")
# Where typical releases change the template, and what an owner may edit there too.
ENV_ANCHOR = "    PYTHONDONTWRITEBYTECODE=1 \\\n"
FAULT_HANDLER = "    PYTHONFAULTHANDLER=1 \\\n"
DEV_ANCHOR = '    "pytest>=8.3",\n'


def set_hash_seed(project: Path) -> None:
    """An owner's image setting where a typical release adds PYTHONFAULTHANDLER: an overlap."""
    edit(project / "Dockerfile", ENV_ANCHOR, ENV_ANCHOR + "    PYTHONHASHSEED=0 \\\n")


@functools.cache
def questions() -> dict[str, Any]:
    """copier.yml as copier reads it, once: the questions and settings of the files it includes."""
    data: dict[str, Any] = load_template_config(REPO_ROOT / "copier.yml")
    return data


# ---------------------------------------------------------------- releases


def checkout_history(root: Path = REPO_ROOT) -> bool:
    return (root / ".git").exists()


def changelog_releases(root: Path = REPO_ROOT) -> list[str]:
    """The versions CHANGELOG.md has a section for, oldest first."""
    changelog = (root / "CHANGELOG.md").read_text()
    found = re.findall(r"^## \[(\d[^\]]*)\]", changelog, re.MULTILINE)
    return sorted(found, key=Version)


def release_commit(version: str, root: Path = REPO_ROOT) -> str:
    """Where `version` was released: its tag, else the commit that added its CHANGELOG heading.

    Tags do not travel with every clone (a mirror, a shallow or tag-less checkout). A release
    whose heading came with CHANGELOG.md itself predates the file: it is that commit's parent.
    """
    if version in git("tag", "--list", version, cwd=root).split():
        return git("rev-parse", f"{version}^{{commit}}", cwd=root).strip()
    added = git(
        "log", "--reverse", "--format=%H", "-S", f"## [{version}]", "--", "CHANGELOG.md", cwd=root
    ).split()
    assert added, f"CHANGELOG.md's history never added the {version} heading: a shallow clone?"
    created = git("log", "--diff-filter=A", "--format=%H", "--", "CHANGELOG.md", cwd=root)
    first = added[0]
    parent = f"{first}^" if first in created.split() else first
    return git("rev-parse", f"{parent}^{{commit}}", cwd=root).strip()


def release_tags(root: Path = REPO_ROOT) -> list[str]:
    """The template's released versions, oldest first: CHANGELOG sections and PEP 440 tags."""
    versions = set(changelog_releases(root))
    if not checkout_history(root):
        return sorted(versions, key=Version)
    for tag in git("tag", "--list", cwd=root).split():
        try:
            Version(tag)
        except InvalidVersion:
            continue
        versions.add(tag)
    return sorted(versions, key=Version)


# ---------------------------------------------------------------- a template repository


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

    @classmethod
    def at_release(cls, path: Path, version: str) -> Template:
        """This checkout's template as `version` released it (its tag, or recreated)."""
        template = cls.from_checkout(path, release_commit(version))
        template.release(version)
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
        # An older release may lack a path the template has today (includes/ came in 0.4.0).
        present = git("ls-tree", "--name-only", ref, "--", *TEMPLATE_PATHS, cwd=REPO_ROOT).split()
        archive = subprocess.run(
            ["git", "archive", "--format=tar", ref, "--", *present],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(self.path, filter="data")

    def edit(self, relative: str, old: str, new: str) -> None:
        edit(self.path / relative, old, new)

    def set_fault_handler(self) -> None:
        """An image setting, as a typical release adds one: PYTHONFAULTHANDLER."""
        self.edit("template/Dockerfile.jinja", ENV_ANCHOR, ENV_ANCHOR + FAULT_HANDLER)

    def add_dev_dependency(self, requirement: str) -> None:
        """A dev tool, as a typical release adds one."""
        self.edit(
            "template/pyproject.toml.jinja", DEV_ANCHOR, f'{DEV_ANCHOR}    "{requirement}",\n'
        )

    def release(self, tag: str) -> None:
        commit(self.path, f"Release {tag}")
        git("tag", tag, cwd=self.path)
