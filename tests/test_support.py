"""The support layer keeps its promises: ports no two workers share, releases found untagged,
no --no-cache build beside another build."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

from .support import REPO_ROOT, build_turn, changelog_releases, git, release_commit, release_tags
from .support.docker import builds
from .support.http import ephemeral_ports, free_port

CLAIM = """
import random, sys
from tests.support.http import free_port
random.seed(0)
print(*[free_port() for _ in range(5)], flush=True)
sys.stdin.read()
"""

# Another worker's build: it holds the build lock for a second and a half.
BUILDING = """
import sys, time
from tests.support.docker import build_turn
with build_turn(sys.argv[1:]):
    print("building", flush=True)
    time.sleep(1.5)
"""


def test_free_ports_are_never_shared_by_workers_nor_ephemeral() -> None:
    # Another worker, started from the same random state, holds its ports while this one asks.
    with subprocess.Popen(
        [sys.executable, "-c", CLAIM],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as worker:
        assert worker.stdout is not None
        theirs = {int(port) for port in worker.stdout.readline().split()}
        random.seed(0)
        ours = {free_port() for _ in range(5)}
        worker.communicate("")
    assert len(theirs) == len(ours) == 5
    assert not theirs & ours
    assert not (theirs | ours) & set(ephemeral_ports()), "the kernel may hand these out"


def test_releases_are_found_again_in_a_clone_without_tags(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git("clone", "--quiet", "--no-tags", str(REPO_ROOT), str(clone), cwd=tmp_path)
    assert not git("tag", "--list", cwd=clone).split()
    versions = release_tags(clone)
    assert versions == changelog_releases(REPO_ROOT), "every CHANGELOG release, none lost"
    assert len(versions) >= 3
    for version in versions:
        found = release_commit(version, clone)
        assert git("cat-file", "-t", found, cwd=clone).strip() == "commit"
        if git("ls-tree", "--name-only", found, "CHANGELOG.md", cwd=clone).strip():
            assert f"## [{version}]" in git("show", f"{found}:CHANGELOG.md", cwd=clone)
        else:  # released before CHANGELOG.md: the commit that added the file describes it
            created = git("log", "--diff-filter=A", "--format=%H", "--", "CHANGELOG.md", cwd=clone)
            assert git("rev-parse", f"{created.split()[-1]}^", cwd=clone).strip() == found
        if version in git("tag", "--list", cwd=REPO_ROOT).split():
            assert found == release_commit(version), f"{version}: not where its tag is"


GROUPS = """
import sys
import pytest

class Groups:
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            marks = [mark.args[0] for mark in item.iter_markers("xdist_group")]
            print("GROUP", item.nodeid, *marks)

sys.exit(pytest.main(["--collect-only", "-q", "-n", "0", "tests/test_image.py"], [Groups()]))
"""


def test_each_image_variant_is_built_on_one_worker() -> None:
    """The module-scoped `image` fixture builds once per variant, not once per xdist worker."""
    shown = subprocess.run(
        [sys.executable, "-c", GROUPS], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    groups: dict[str, set[str]] = {}
    for line in shown.splitlines():
        if line.startswith("GROUP "):
            nodeid, *marks = line.split()[1:]
            variant = nodeid[nodeid.index("[") + 1 : -1]
            groups.setdefault(variant, set()).update(marks)
    assert len(groups) > 3, shown
    assert groups == {variant: {f"image[{variant}]"} for variant in groups}


def test_a_no_cache_build_runs_alone_and_other_builds_side_by_side() -> None:
    assert builds(["build", "--tag", "x", "."])
    assert builds(["buildx", "bake", "--load"])
    assert builds(["compose", "--file", "compose.yaml", "up", "--build", "--wait"])
    assert not builds(["buildx", "bake", "--file", "docker-bake.hcl", "--print"])
    assert not builds(["compose", "--project-name", "x", "up", "--wait"])
    assert not builds(["run", "--rm", "image"])
    waited = {}
    for other, mine in [("--no-cache", "--pull"), ("--pull", "--no-cache"), ("--pull", "--pull")]:
        command = [sys.executable, "-c", BUILDING, "build", other, "."]
        with subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True) as worker:
            assert worker.stdout is not None
            assert worker.stdout.readline() == "building\n"
            started = time.monotonic()
            with build_turn(["build", mine, "."]):
                waited[other, mine] = time.monotonic() - started
    assert waited["--no-cache", "--pull"] > 1.0
    assert waited["--pull", "--no-cache"] > 1.0
    assert waited["--pull", "--pull"] < 0.5
