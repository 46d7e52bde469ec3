"""`copier update`: a template release reaches an existing service and keeps the owner's work.

Each test builds a template repository in a tmp dir from this checkout (like pytest-copier's
`copier_template`, but released by PEP 440 tags so copier sees versions), renders a service
with the real copier CLI, commits it, edits it as an owner would, releases a template change
and runs `copier update` as UPDATING.md tells owners to.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from .support import (
    COPIER,
    GATES,
    REPO_ROOT,
    UPDATE,
    UV,
    Template,
    answers_of,
    attempt,
    checkout_history,
    commit,
    edit,
    git,
    project_files,
    questions,
    release_commit,
    release_tags,
    render_release,
    run,
    run_in_terminal,
    set_hash_seed,
    status,
    update,
)

OURS, THEIRS = "<<<<<<< before updating", ">>>>>>> after updating"
# A line `git diff --check` reports as a leftover conflict marker.
MARKER_LINE = re.compile(r"^([<=>|])\1{6}( |$)", re.MULTILINE)
SKIPPED_DIRS = {".git", ".venv", ".mypy_cache", ".pytest_cache", ".ruff_cache", "__pycache__"}


def files_named(project: Path, pattern: str) -> list[Path]:
    return [
        path
        for path in project.rglob(pattern)
        if not SKIPPED_DIRS.intersection(path.relative_to(project).parts)
    ]


def locked_versions(project: Path) -> dict[str, str]:
    lock = tomllib.loads((project / "uv.lock").read_text())
    return {package["name"]: package["version"] for package in lock["package"]}


def run_gates(project: Path) -> str:
    """The service's own gates (test_gates.GATES), pytest verbose; its output."""
    *checks, pytest_gate = GATES
    for gate in checks:
        run(UV, *gate, cwd=project)
    output = run(UV, *pytest_gate, "-v", cwd=project).stdout
    assert " passed" in output, output
    assert "failed" not in output, output
    return output


# ---------------------------------------------------------------- what an owner does

OWNER_IMPORT = "import humanize\nfrom fastapi import"
OWNER_ENDPOINT = '''
    started = time.monotonic()

    @app.get("/uptime")
    async def uptime() -> dict[str, str]:
        """How long this process has served, for humans."""
        return {"uptime": humanize.naturaldelta(time.monotonic() - started)}

    return app
'''
OWNER_TEST = """

def test_uptime_reads_for_humans(client: TestClient) -> None:
    response = client.get("/uptime")
    assert response.status_code == 200
    assert isinstance(response.json()["uptime"], str)
"""
OWNER_README = "On call: #payments-oncall. Runbook: docs/runbook.md.\n\n"
# In the runtime stage, between lines every release has had: the template's own rewrites of
# the Dockerfile must merge around it.
OWNER_LABEL = '# Who answers for this image.\nLABEL com.acme.oncall="#payments-oncall"\n\n'


def make_owner_edits(project: Path) -> None:
    """A dependency, an endpoint that uses it with its test, README and Dockerfile notes."""
    run(UV, "add", "--no-sync", "humanize", cwd=project)
    app = project / "src" / answers_of(project)["package_name"] / "app.py"
    edit(app, "import logging\n", "import logging\nimport time\n")
    edit(app, "from fastapi import", OWNER_IMPORT)
    edit(app, "\n    return app\n", OWNER_ENDPOINT)
    test_app = project / "tests" / "test_app.py"
    test_app.write_text(test_app.read_text() + OWNER_TEST)
    readme = project / "README.md"
    title, rest = readme.read_text().split("\n\n", 1)
    readme.write_text(f"{title}\n\n{OWNER_README}{rest}")
    edit(project / "Dockerfile", "\nUSER ", f"\n{OWNER_LABEL}USER ")
    commit(project, "Owner edits: humanize, /uptime, on-call note")


def release_1_1_0(template: Template) -> None:
    """A typical template release: an image setting, a dev tool, a README line."""
    template.set_fault_handler()
    template.add_dev_dependency("pytest-timeout>=2.3")
    template.edit(
        "template/README.md.jinja",
        "## Test and lint\n",
        "## Test and lint\n\nA test that hangs fails after pytest-timeout's limit.\n",
    )
    template.release("1.1.0")


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """This checkout released as 1.0.0, then a typical change released as 1.1.0."""
    template = Template.from_checkout(tmp_path_factory.mktemp("released") / "template")
    template.release("1.0.0")
    release_1_1_0(template)
    return template


# ---------------------------------------------------------------- the typical update


@dataclass
class Updated:
    project: Path
    template: Template
    answers_before: dict[str, Any]
    readme_before: str
    lock_before: dict[str, str]
    output: str


@pytest.fixture(scope="module")
def updated(released: Template, tmp_path_factory: pytest.TempPathFactory) -> Updated:
    """A service rendered at 1.0.0, edited by its owner, then updated to 1.1.0."""
    project = render_release(released, tmp_path_factory.mktemp("updated") / "service", "1.0.0")
    answers_before = answers_of(project)
    make_owner_edits(project)
    readme_before = (project / "README.md").read_text()
    lock_before = locked_versions(project)
    result = update(project)
    return Updated(
        project,
        released,
        answers_before,
        readme_before,
        lock_before,
        result.stdout + result.stderr,
    )


def test_render_records_the_template_source_and_release(updated: Updated) -> None:
    assert updated.answers_before["_src_path"] == str(updated.template.path)
    assert updated.answers_before["_commit"] == "1.0.0"


def test_update_brings_the_release(updated: Updated) -> None:
    project = updated.project
    assert answers_of(project)["_commit"] == "1.1.0"
    assert "    PYTHONFAULTHANDLER=1 \\\n" in (project / "Dockerfile").read_text()
    dev = tomllib.loads((project / "pyproject.toml").read_text())["dependency-groups"]["dev"]
    assert "pytest-timeout>=2.3" in dev


def test_update_keeps_the_owner_edits(updated: Updated) -> None:
    project = updated.project
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    assert any(dependency.startswith("humanize") for dependency in dependencies)
    app = (project / "src" / answers_of(project)["package_name"] / "app.py").read_text()
    assert OWNER_IMPORT in app
    assert OWNER_ENDPOINT in app
    assert (project / "tests" / "test_app.py").read_text().endswith(OWNER_TEST)
    assert OWNER_LABEL in (project / "Dockerfile").read_text()


def test_update_leaves_owned_files_alone(updated: Updated, tmp_path: Path) -> None:
    """README.md is in _skip_if_exists: the release changed it, the owner's copy stays."""
    fresh = render_release(updated.template, tmp_path / "fresh", "1.1.0")
    assert "pytest-timeout's limit" in (fresh / "README.md").read_text(), "1.1.0 renders it"
    assert (updated.project / "README.md").read_text() == updated.readme_before


def test_update_leaves_no_rejects_and_only_the_release_changes(updated: Updated) -> None:
    project = updated.project
    assert not files_named(project, "*.rej")
    assert not files_named(project, "*.orig")
    changed = sorted(line[3:] for line in status(project))
    assert changed == [".copier-answers.yml", "Dockerfile", "pyproject.toml", "uv.lock"]
    assert all(line.startswith(" M ") for line in status(project)), status(project)


def test_update_relocks_and_keeps_the_owner_pins(updated: Updated) -> None:
    project = updated.project
    run(UV, "lock", "--check", cwd=project)
    after = locked_versions(project)
    assert "pytest-timeout" in after
    kept = {name: version for name, version in updated.lock_before.items() if name in after}
    assert kept == updated.lock_before, "the update moved pins it had no reason to move"


@pytest.mark.slow
def test_updated_service_passes_its_gates(updated: Updated) -> None:
    assert "test_uptime_reads_for_humans PASSED" in run_gates(updated.project)


def test_updating_guide_gives_the_command_the_tests_run(rendered: Callable[[str], Path]) -> None:
    project = rendered("defaults")
    command = f"uvx copier@latest {shlex.join(UPDATE)}"
    assert f"\n{command}\n" in (project / "UPDATING.md").read_text()
    assert f"`{command}`" in (project / "README.md").read_text()


# ---------------------------------------------------------------- conflicts


def test_overlapping_edits_become_visible_conflicts(released: Template, tmp_path: Path) -> None:
    project = render_release(released, tmp_path / "service", "1.0.0")
    set_hash_seed(project)
    run(UV, "add", "--dev", "--no-sync", "pytest-mock", cwd=project)
    commit(project, "Owner: hash seed, pytest-mock")
    result = update(project)

    dockerfile = (project / "Dockerfile").read_text()
    block = dockerfile[dockerfile.index(OURS) : dockerfile.index(THEIRS)]
    assert "PYTHONHASHSEED=0" in block
    assert "PYTHONFAULTHANDLER=1" in block
    pyproject = (project / "pyproject.toml").read_text()
    assert OURS in pyproject
    assert "pytest-mock" in pyproject
    assert "pytest-timeout" in pyproject
    assert {"UU Dockerfile", "UU pyproject.toml"} <= set(status(project))
    assert not files_named(project, "*.rej")
    # The hook cannot lock a pyproject.toml with markers: it says so and lets the update finish.
    assert "pyproject.toml has conflict markers" in result.stderr
    assert f"cd {project} && uv lock" in result.stderr
    # UPDATING.md names exactly these markers (never as lines), and a command that finds them.
    guide = (project / "UPDATING.md").read_text()
    assert OURS in guide
    assert THEIRS in guide
    assert not MARKER_LINE.findall(guide)
    check = attempt("git", "diff", "HEAD", "--check", cwd=project)
    assert "git diff HEAD --check" in guide
    assert "leftover conflict marker" in check.stdout


def test_updating_guide_has_no_line_git_takes_for_a_conflict_marker(
    rendered: Callable[[str], Path],
) -> None:
    """Otherwise `git diff --check` flags the guide itself when an update adds it."""
    guide = (rendered("defaults") / "UPDATING.md").read_text()
    assert MARKER_LINE.search("x\n" + OURS + "\n")
    assert not MARKER_LINE.findall(guide)


# ---------------------------------------------------------------- no-op updates


def test_update_to_the_same_release_changes_nothing(released: Template, tmp_path: Path) -> None:
    project = render_release(released, tmp_path / "service", "1.0.0")
    make_owner_edits(project)
    update(project, "--vcs-ref", "1.0.0")
    assert status(project) == []


def test_new_question_whose_default_keeps_the_output_changes_only_the_answers(
    tmp_path: Path,
) -> None:
    template = Template.from_checkout(tmp_path / "template")
    template.release("1.0.0")
    # The last question; the computed values that follow are included.
    computed = "\n---\n- !include includes/computed.yml\n"
    template.edit(
        "copier.yml",
        computed,
        "\nhealthcheck_interval:\n  type: str\n  help: How often Docker probes /health\n"
        "  default: 30s\n" + computed,
    )
    template.edit(
        "template/Dockerfile.jinja", "--interval=30s", "--interval={{ healthcheck_interval }}"
    )
    template.release("1.1.0")
    project = render_release(template, tmp_path / "service", "1.0.0")

    update(project)
    assert sorted(status(project)) == [" M .copier-answers.yml"]
    assert answers_of(project)["healthcheck_interval"] == "30s"
    assert answers_of(project)["_commit"] == "1.1.0"
    # The question is really wired: another answer does change the Dockerfile.
    commit(project, "Update to 1.1.0")
    update(project, "--data", "healthcheck_interval=10s")
    assert "HEALTHCHECK --interval=10s " in (project / "Dockerfile").read_text()


# ---------------------------------------------------------------- renaming the package

OWNER_MODULE = '"""Orders: the owner\'s own module."""\n\nORDERS: list[str] = []\n'


def rename_package(project: Path, old: str, new: str) -> None:
    """UPDATING.md's rename: git mv, then the new name in every file `git grep -lw` lists."""
    git("mv", f"src/{old}", f"src/{new}", cwd=project)
    for relative in git("grep", "-lw", old, cwd=project).split():
        path = project / relative
        path.write_text(re.sub(rf"\b{old}\b(?!-\*\.dist-info)", new, path.read_text()))
    commit(project, f"Rename the package {old} to {new}")


def test_update_refuses_to_rename_the_package_and_says_how(
    released: Template, tmp_path: Path
) -> None:
    """Copier would delete src/<old>/, the owner's modules with it, without a conflict."""
    project = render_release(released, tmp_path / "service", "1.0.0")
    old = answers_of(project)["package_name"]
    module = project / "src" / old / "orders.py"
    module.write_text(OWNER_MODULE)
    commit(project, "Owner: orders module")

    refused = attempt(COPIER, *UPDATE, "--data", "package_name=payments", cwd=project)
    assert refused.returncode != 0
    assert f"would delete the modules it rendered in src/{old}/" in refused.stderr
    assert f"git mv src/{old} src/payments\n    git grep -lw {old}\n" in refused.stderr
    assert "UPDATING.md, 'Renaming the package'" in refused.stderr
    assert status(project) == []
    assert module.read_text() == OWNER_MODULE
    assert answers_of(project)["_commit"] == "1.0.0"

    # UPDATING.md's way: rename, then an ordinary update gives what a fresh render has.
    guide = (project / "UPDATING.md").read_text()
    assert "## Renaming the package" in guide
    assert "git mv src/old_name src/new_name\ngit grep -lw old_name\n" in guide
    rename_package(project, old, "payments")
    update(project)
    assert answers_of(project)["_commit"] == "1.1.0"
    assert (project / "src" / "payments" / "orders.py").read_text() == OWNER_MODULE
    fresh = render_release(released, tmp_path / "fresh", "1.1.0", "--data", "package_name=payments")
    # README.md is the owner's (kept from 1.0.0); uv.lock is checked below.
    expected = project_files(fresh) - {"README.md", "uv.lock"}
    assert project_files(project) - {"README.md", "uv.lock"} == {
        *expected,
        "src/payments/orders.py",
    }
    for relative in sorted(expected):
        assert (project / relative).read_text() == (fresh / relative).read_text(), relative
    run(UV, "lock", "--check", cwd=project)


def test_update_fails_when_a_new_package_name_is_typed_at_the_prompt(
    released: Template, tmp_path: Path
) -> None:
    """The prompt comes after copier's "before" migrations: the "after" one catches it."""
    project = render_release(released, tmp_path / "service", "1.0.0")
    old = answers_of(project)["package_name"]
    app = project / "src" / old / "app.py"
    edit(app, "import logging\n", "import logging\n\n# Owner: payments team.\n")
    edited = app.read_text()
    commit(project, "Owner: a note in app.py")
    # Every other answer as it was, so the package name is the one question asked.
    others = {key: value for key, value in answers_of(project).items() if key[0] != "_"}
    del others["package_name"]
    data = tmp_path / "answers.yml"
    data.write_text(yaml.safe_dump(others))

    code, shown = run_in_terminal(
        [COPIER, "update", "--trust", "--data-file", data],
        cwd=project,
        replies={"Python import name": "\x15payments\r"},  # Ctrl-U clears the old name
    )
    assert code != 0, shown
    assert f"this update renamed the package {old} to payments" in shown
    assert "git reset --hard && git clean -fd" in shown
    # The undo it prints restores the service exactly.
    git("reset", "--quiet", "--hard", cwd=project)
    git("clean", "-fd", "--quiet", cwd=project)
    assert status(project) == []
    assert app.read_text() == edited
    assert not (project / "src" / "payments").exists()


# ---------------------------------------------------------------- the post-render hook


def test_hook_locks_once_in_the_real_project_on_copy_and_on_update(
    released: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A uv wrapper logs where it runs: never in copier's temporary old/new renders."""
    log = tmp_path / "uv-calls.log"
    wrapper = tmp_path / "bin" / "uv"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$(pwd -P) $*" >> {log}\nexec {UV} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("UV", raising=False)

    project = render_release(released, tmp_path / "service", "1.0.0")
    assert log.read_text().splitlines() == [f"{project.resolve()} lock"]
    update(project)
    assert log.read_text().splitlines() == [f"{project.resolve()} lock"] * 2
    run(UV, "lock", "--check", cwd=project)


# ---------------------------------------------------------------- migrations


@pytest.fixture
def across_the_guide_move(tmp_path: Path) -> tuple[Template, Path]:
    """A service rendered by 0.1.0 (real history), and this checkout released as 0.2.0."""
    if not checkout_history():
        pytest.fail("the migration tests need this checkout's git history (fetch-depth: 0)")
    template = Template.at_release(tmp_path / "template", "0.1.0")
    template.replace_with_checkout()
    template.release("0.2.0")
    project = render_release(template, tmp_path / "service", "0.1.0")
    readme = (project / "README.md").read_text()
    assert "uvx copier update --trust --defaults" in readme, "no 0.1.0 README: a shallow clone?"
    assert not (project / "UPDATING.md").exists()
    return template, project


def readme_section(text: str) -> str:
    return text[text.index("## Template updates") :]


def test_update_across_0_2_0_moves_the_update_guide(
    across_the_guide_move: tuple[Template, Path], rendered: Callable[[str], Path]
) -> None:
    template, project = across_the_guide_move
    make_owner_edits(project)
    update(project)
    fresh = rendered("defaults")
    readme = (project / "README.md").read_text()
    assert readme_section(readme) == readme_section((fresh / "README.md").read_text())
    assert OWNER_README in readme
    assert (project / "UPDATING.md").read_text() == (fresh / "UPDATING.md").read_text()
    assert not files_named(project, "*.rej")
    run(UV, "lock", "--check", cwd=project)
    # The owner's check from UPDATING.md passes once the new guide is staged.
    git("add", "--all", cwd=project)
    git("diff", "--cached", "--check", cwd=project)
    # Migrations may run again (a HEAD render re-crosses 0.2.0): the second run is a no-op.
    script = template.path / "hooks" / "move_update_guide.py"
    again = run(sys.executable, script, cwd=project)
    assert "already points to UPDATING.md" in again.stderr
    assert (project / "README.md").read_text() == readme


def test_update_across_0_2_0_leaves_an_edited_guide_and_says_so(
    across_the_guide_move: tuple[Template, Path],
) -> None:
    _, project = across_the_guide_move
    edit(project / "README.md", "run `uv lock`.\n", "run `uv lock`. Ask #platform first.\n")
    commit(project, "Owner: update guide note")
    readme = (project / "README.md").read_text()
    result = update(project)
    assert (project / "README.md").read_text() == readme
    assert "differs from what 0.1.0 rendered" in result.stderr
    assert (project / "UPDATING.md").is_file()


def test_every_migration_version_is_in_the_changelog() -> None:
    config = questions()
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text()
    versions = [entry["version"] for entry in config["_migrations"] if "version" in entry]
    assert versions
    for version in versions:
        assert version in changelog, f"migration {version} has no CHANGELOG entry"


def test_every_release_tag_has_a_changelog_section() -> None:
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog
    versions = release_tags()
    assert versions[0] == "0.1.0", versions  # tagged or not, the loop starts at the first
    for version in versions:
        assert f"## [{version}]" in changelog, f"tag {version} has no CHANGELOG section"
        # Tagged or not, every release can be found again in this checkout's history.
        assert git("cat-file", "-t", release_commit(version), cwd=REPO_ROOT).strip() == "commit"


# ---------------------------------------------------------------- untagged renders


def test_render_from_an_untagged_commit_updates_while_the_commit_exists(tmp_path: Path) -> None:
    template = Template.from_checkout(tmp_path / "template")
    template.release("1.0.0")
    template.edit("template/.env.example.jinja", "LOG_LEVEL=info\n", "LOG_LEVEL=info\n# dev\n")
    commit(template.path, "Unreleased work")
    project = render_release(template, tmp_path / "service", "HEAD")
    assert re.fullmatch(r"1\.0\.0-1-g[0-9a-f]+", answers_of(project)["_commit"])
    release_1_1_0(template)
    update(project)
    assert answers_of(project)["_commit"] == "1.1.0"
    assert "# dev\n" in (project / ".env.example").read_text()
    assert not files_named(project, "*.rej")


def test_render_from_a_vanished_commit_cannot_update_until_pointed_at_a_release(
    tmp_path: Path,
) -> None:
    """copier#1305's lasting form: the recorded commit was rebased away (UPDATING.md)."""
    template = Template.from_checkout(tmp_path / "template")
    template.release("1.0.0")
    git("checkout", "--quiet", "-b", "feature", cwd=template.path)
    template.edit("template/.env.example.jinja", "LOG_LEVEL=info\n", "LOG_LEVEL=info\n# dev\n")
    commit(template.path, "Work in progress")
    project = render_release(template, tmp_path / "service", "feature")
    git("checkout", "--quiet", "main", cwd=template.path)
    git("branch", "--quiet", "--delete", "--force", "feature", cwd=template.path)
    git("reflog", "expire", "--expire=now", "--all", cwd=template.path)
    git("gc", "--quiet", "--prune=now", cwd=template.path)
    release_1_1_0(template)

    failed = attempt(COPIER, *UPDATE, cwd=project)
    assert failed.returncode != 0
    assert "Unknown revision" in failed.stderr
    assert status(project) == []

    # The recovery UPDATING.md gives: point _commit at the release before it, then update.
    answers = project / ".copier-answers.yml"
    answers.write_text(re.sub(r"(?m)^_commit: .*$", "_commit: 1.0.0", answers.read_text()))
    commit(project, "Point _commit at the release before the vanished commit")
    update(project)
    assert answers_of(project)["_commit"] == "1.1.0"
    assert "# dev\n" in (project / ".env.example").read_text()
    assert "PYTHONFAULTHANDLER=1" in (project / "Dockerfile").read_text()


# ---------------------------------------------------------------- every release to the candidate


def previous_versions() -> list[str]:
    """Every release: tagged, or recreated where CHANGELOG.md's history says it was made."""
    return release_tags()


@pytest.mark.slow
@pytest.mark.parametrize("version", previous_versions())
def test_update_path_from_a_release_to_the_candidate(version: str, tmp_path: Path) -> None:
    if not checkout_history():
        pytest.fail("the update-path test needs this checkout's git history (fetch-depth: 0)")
    template = Template.at_release(tmp_path / "template", version)
    template.replace_with_checkout()
    template.release("99.0.0")
    project = render_release(template, tmp_path / "service", version)
    make_owner_edits(project)

    update(project)
    assert answers_of(project)["_commit"] == "99.0.0"
    assert not files_named(project, "*.rej")
    assert not [line for line in status(project) if line.startswith("UU")], status(project)
    assert OWNER_LABEL in (project / "Dockerfile").read_text()
    run(UV, "lock", "--check", cwd=project)
    assert "test_uptime_reads_for_humans PASSED" in run_gates(project)


# ---------------------------------------------------------------- the oldest supported copier


@pytest.mark.slow
def test_oldest_supported_copier_shows_conflicts(released: Template, tmp_path: Path) -> None:
    """_min_copier_version is right: with it, an overlapping edit is a visible conflict.

    Copier 9.15.1 and older miss a conflict whose .rej file git ignores and drop the owner's
    lines without a marker.
    """
    minimum = questions()["_min_copier_version"]
    oldest = (UV, "tool", "run", "--from", f"copier=={minimum}", "copier")
    project = tmp_path / "service"
    run(
        *oldest,
        "copy",
        "--trust",
        "--defaults",
        "--vcs-ref",
        "1.0.0",
        released.path,
        project,
        cwd=tmp_path,
    )
    commit(project, "Render with the oldest supported copier")
    set_hash_seed(project)
    commit(project, "Owner: hash seed")
    # Git ignores *.rej here, as many global gitignores (and 0.1.0's .gitignore) do.
    (project / ".git" / "info" / "exclude").write_text("*.rej\n")
    run(*oldest, "update", "--trust", "--defaults", cwd=project)
    assert OURS in (project / "Dockerfile").read_text()
    assert "UU Dockerfile" in status(project)
    assert not files_named(project, "*.rej")
