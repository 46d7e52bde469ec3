"""scripts/fleet.py over a fleet of twelve services rendered from older template releases.

tests/support/fleet.py releases this checkout as 1.0.0, 1.1.0 and 1.2.0 (plus a 1.3.0rc1
candidate) and renders the fleet with real copier; `fleet.py update` runs each service's own
scripts/template-update (real copier, uv and gates, no forge token). fleet.py runs on the
oldest Python here, isolated (-I): it must need nothing but the standard library.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .support import INTERPRETERS, REPO_ROOT, UV, Template, attempt, commit, git, run
from .support.fleet import (
    MEMBERS,
    NEWEST,
    PYTHON,
    Member,
    build_fleet,
    release_template,
    update_environment,
)

# One worker builds the fleet once (pytest runs with --dist loadgroup).
pytestmark = pytest.mark.xdist_group("fleet")

FLEET = REPO_ROOT / "scripts" / "fleet.py"
# The oldest Python fleet.py supports (its docstring says so), as a bare host has it.
OLDEST_PYTHON = INTERPRETERS["3.10"]
UPDATE_BRANCH = f"template-update/{NEWEST}"
BEHIND, CONFLICTS, ERROR, OK, USAGE = 4, 2, 1, 0, 64
# scripts/template-update's own exit status for each result.
EXIT_STATUS = {"up-to-date": 0, "updated": 0, "error": 1, "conflicts": 2, "gates-failed": 3}


def fleet(
    *arguments: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return attempt(OLDEST_PYTHON, "-I", FLEET, *arguments, cwd=cwd, env=env, timeout=1800)


def rows(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    """fleet.py's --json output, by service."""
    return {row["service"]: row for row in json.loads(result.stdout)}


@dataclass
class Fleet:
    template: Template
    root: Path
    services: dict[str, Path]


@pytest.fixture(scope="module")
def fleet_of(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    root = tmp_path_factory.mktemp("fleet")
    template = release_template(root / "template")
    return Fleet(template, root / "services", build_fleet(template, root / "services"))


@dataclass
class Updated:
    result: subprocess.CompletedProcess[str]
    branches: dict[str, str]


@pytest.fixture(scope="module")
def updated(fleet_of: Fleet) -> Updated:
    """`fleet.py update` over the whole fleet, two at a time; the update branches' commits."""
    result = fleet(
        "update", "--json", "--jobs", "2", "--logs", fleet_of.root.parent / "logs",
        *fleet_of.services, cwd=fleet_of.root, env=update_environment(),
    )  # fmt: skip
    return Updated(result, update_branches(fleet_of))


def update_branches(fleet_of: Fleet) -> dict[str, str]:
    found = {}
    for name, path in fleet_of.services.items():
        branch = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", UPDATE_BRANCH],
            cwd=path,
            capture_output=True,
            text=True,
            check=False,
        )
        if branch.returncode == 0:
            found[name] = branch.stdout.strip()
    return found


def first_commit_date(project: Path) -> str:
    return git("log", "--reverse", "--format=%cI", cwd=project).splitlines()[0]


def expected_row(member: Member) -> dict[str, Any]:
    return {
        "release": member.release,
        "newest": NEWEST,
        "behind": member.behind,
        "branch": "main",
        "python_version": PYTHON,
        "python_source": member.answers.get("python_source", "image"),
        "entrypoint": member.answers.get("entrypoint", "venv"),
        "conflicts": [],
        "error": None,
    }


# ---------------------------------------------------------------- status


def test_status_json_matches_the_fleet(fleet_of: Fleet) -> None:
    result = fleet("status", "--json", *fleet_of.services, cwd=fleet_of.root)
    assert result.returncode == BEHIND, result.stderr
    assert result.stderr == ""
    found = rows(result)
    assert list(found) == [member.name for member in MEMBERS]
    for member in MEMBERS:
        row = found[member.name]
        assert {key: row[key] for key in expected_row(member)} == expected_row(member), member
        assert row["template"] == str(fleet_of.template.path.resolve())
        # Owner edits came after the render: the last template update is the render.
        assert row["last_update"] == first_commit_date(fleet_of.services[member.name])


def test_status_table_and_exit_code_when_every_service_is_current(fleet_of: Fleet) -> None:
    current = [member.name for member in MEMBERS if member.behind == 0]
    assert len(current) >= 2
    result = fleet("status", *current, cwd=fleet_of.root)
    assert result.returncode == OK, result.stdout + result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split() == [
        "SERVICE", "RELEASE", "NEWEST", "BEHIND", "UPDATED", "BRANCH",
        "PYTHON", "SOURCE", "ENTRYPOINT", "CONFLICTS",
    ]  # fmt: skip
    assert [line.split()[:4] for line in lines] == [[name, NEWEST, NEWEST, "0"] for name in current]
    assert all(line.split()[-1] == "none" for line in lines)


def test_status_clones_a_git_url(fleet_of: Fleet) -> None:
    local = fleet_of.services["catalog"]
    url = local.resolve().as_uri()
    result = fleet("status", "--json", url, "catalog", cwd=fleet_of.root)
    assert result.returncode == BEHIND, result.stderr
    found = rows(result)
    assert {**found[url], "service": "catalog"} == found["catalog"]


def test_status_template_option_reads_another_template(fleet_of: Fleet, tmp_path: Path) -> None:
    """A mirror with more tags: releases in PEP 440 order, pre-releases and other tags ignored."""
    mirror = tmp_path / "mirror"
    git("clone", "--quiet", str(fleet_of.template.path), str(mirror), cwd=tmp_path)
    for tag in ("1.9.0", "v1.10.0", "2.0.0rc1", "2.0.0.dev1", "nightly"):
        git("tag", tag, cwd=mirror)
    result = fleet(
        "status", "--json", "--template", mirror, "billing", "pricing", cwd=fleet_of.root
    )
    found = rows(result)
    # Newer than 1.0.0: 1.1.0, 1.2.0, 1.9.0 and v1.10.0; newer than 1.2.0: the last two.
    assert (found["billing"]["newest"], found["billing"]["behind"]) == ("v1.10.0", 4)
    assert (found["pricing"]["newest"], found["pricing"]["behind"]) == ("v1.10.0", 2)
    assert found["billing"]["template"] == str(mirror.resolve())


def test_status_lists_conflict_markers_and_ignored_rejects(fleet_of: Fleet, tmp_path: Path) -> None:
    project = tmp_path / "pricing"
    git("clone", "--quiet", str(fleet_of.services["pricing"]), str(project), cwd=tmp_path)
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text()
        + "<<<<<<< before updating\nENV A=1\n=======\nENV A=2\n>>>>>>> after updating\n"
    )
    commit(project, "A half-resolved update")
    (project / ".git" / "info" / "exclude").write_text("*.rej\n")
    (project / "src" / "compose.yaml.rej").parent.mkdir(exist_ok=True)
    (project / "src" / "compose.yaml.rej").write_text("@@ -1 +1 @@\n")
    result = fleet("status", "--json", project, cwd=tmp_path)
    assert result.returncode == CONFLICTS, result.stderr
    assert rows(result)[str(project)]["conflicts"] == ["Dockerfile", "src/compose.yaml.rej"]


def test_status_finds_no_conflict_in_a_fresh_render(fleet_of: Fleet) -> None:
    """The template's own documentation must not look like a conflict (UPDATING.md)."""
    result = fleet("status", "--json", "profiles", cwd=fleet_of.root)
    assert rows(result)["profiles"]["conflicts"] == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda root: root / "absent", r"absent: no such directory", id="missing"),
        pytest.param(
            lambda root: root,
            r": not a copier service \(no \.copier-answers\.yml\)",
            id="not-a-service",
        ),
    ],
)
def test_status_names_what_is_not_a_service(
    tmp_path: Path, make: Any, message: str, fleet_of: Fleet
) -> None:
    result = fleet("status", make(tmp_path), "billing", cwd=fleet_of.root)
    assert result.returncode == ERROR
    (line,) = result.stderr.splitlines()
    assert re.search(message, line), line
    assert "billing" in result.stdout


def test_status_names_a_missing_or_unreleased_template(fleet_of: Fleet, tmp_path: Path) -> None:
    project = tmp_path / "ledger"
    git("clone", "--quiet", str(fleet_of.services["ledger"]), str(project), cwd=tmp_path)
    answers = project / ".copier-answers.yml"
    moved = tmp_path / "moved-template"
    answers.write_text(re.sub(r"(?m)^_src_path: .*$", f"_src_path: {moved}", answers.read_text()))
    commit(project, "The template moved")
    missing = fleet("status", project, cwd=tmp_path)
    assert missing.returncode == ERROR
    assert missing.stderr == f"fleet.py: {project}: template {moved} does not exist\n"

    moved.mkdir()
    git("init", "--quiet", cwd=moved)
    unreleased = fleet("status", project, cwd=tmp_path)
    assert unreleased.returncode == ERROR
    assert f"template {moved} has no release tags" in unreleased.stderr

    override = fleet("status", "--template", tmp_path / "nowhere", project, cwd=tmp_path)
    assert override.returncode == ERROR
    assert override.stderr == f"fleet.py: template {tmp_path / 'nowhere'} does not exist\n"


def test_wrong_command_lines_exit_64(tmp_path: Path) -> None:
    wrong = (
        ("status",),
        ("status", "--jobs", "0", "x"),
        ("deploy", "x"),
        (),
        ("update", "x", "./x"),
    )
    for arguments in wrong:
        result = fleet(*arguments, cwd=tmp_path)
        assert result.returncode == USAGE, arguments
        assert "usage: fleet.py" in result.stderr


def test_help_documents_the_exit_codes(tmp_path: Path) -> None:
    for command in ("status", "update"):
        text = fleet(command, "--help", cwd=tmp_path).stdout
        for code in (f"  {BEHIND} ", f"  {CONFLICTS} ", f"  {ERROR} ", f"  {OK} ", f"  {USAGE} "):
            assert code in text, (command, code)


# ---------------------------------------------------------------- update


def test_update_gives_each_service_its_outcome(fleet_of: Fleet, updated: Updated) -> None:
    result = updated.result
    assert result.returncode == CONFLICTS, result.stdout + result.stderr
    found = rows(result)
    outcomes = {name: found[name]["result"] for name in found}
    assert outcomes == {member.name: member.result for member in MEMBERS}, result.stdout
    for member in MEMBERS:
        fields = found[member.name]["fields"]
        if member.result == "up-to-date":
            assert fields["current"] == NEWEST, fields
            assert member.name not in updated.branches
            continue
        assert (fields["current"], fields["target"]) == (member.release, NEWEST), fields
        assert fields["branch"] == UPDATE_BRANCH, fields
        assert fields["conflicts"] == str(len(member.conflicts)), fields
        assert fields["pushed"] == "no", fields
        assert found[member.name]["exit_status"] == EXIT_STATUS[member.result]
    log = fleet_of.root.parent / "logs"
    assert len(list(log.glob("*.log"))) == len(MEMBERS)


def test_updated_services_are_current_on_their_update_branch(
    fleet_of: Fleet, updated: Updated, tmp_path: Path
) -> None:
    """The update branches, checked out: current, with exactly the expected conflicts."""
    checkouts = []
    for name in updated.branches:
        checkout = tmp_path / name
        source = str(fleet_of.services[name])
        git("clone", "--quiet", "--branch", UPDATE_BRANCH, source, str(checkout), cwd=tmp_path)
        checkouts.append(checkout)
    result = fleet("status", "--json", *checkouts, cwd=tmp_path)
    assert result.returncode == CONFLICTS, result.stderr
    found = rows(result)
    for member in MEMBERS:
        if member.result == "up-to-date":
            continue
        row = found[str(tmp_path / member.name)]
        assert (row["release"], row["behind"], row["branch"]) == (NEWEST, 0, UPDATE_BRANCH)
        assert row["conflicts"] == list(member.conflicts), member
        assert row["last_update"] > first_commit_date(fleet_of.services[member.name])
        if member.result == "updated":
            run(UV, "lock", "--check", cwd=tmp_path / member.name)


def test_second_update_changes_nothing(fleet_of: Fleet, updated: Updated) -> None:
    result = fleet("update", *fleet_of.services, cwd=fleet_of.root, env=update_environment())
    assert result.returncode == CONFLICTS, result.stdout + result.stderr
    assert update_branches(fleet_of) == updated.branches
    header, *lines, _, totals = result.stdout.splitlines()
    assert header.split() == ["SERVICE", "RESULT", "SECONDS", "DETAILS"]
    assert [line.split()[:2] for line in lines] == [[m.name, m.result] for m in MEMBERS]
    assert totals == "6 updated, 2 up to date, 3 conflicts, 1 gates failed, 0 error"


def test_update_names_what_it_cannot_run(fleet_of: Fleet, tmp_path: Path) -> None:
    scriptless = tmp_path / "scriptless"
    git("clone", "--quiet", str(fleet_of.services["billing"]), str(scriptless), cwd=tmp_path)
    git("rm", "--quiet", "scripts/template-update", cwd=scriptless)
    commit(scriptless, "An old service, from before the update script")
    url = scriptless.as_uri()
    result = fleet("update", "--json", tmp_path / "absent", scriptless, url, cwd=tmp_path)
    assert result.returncode == ERROR
    found = rows(result)
    assert {row["result"] for row in found.values()} == {"error"}
    assert "absent: no such directory" in found[str(tmp_path / "absent")]["details"]
    assert "no executable scripts/template-update" in found[str(scriptless)]["details"]
    assert "clone it first" in found[url]["details"]
