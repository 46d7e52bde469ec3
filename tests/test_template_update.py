"""`scripts/template-update`: a service brings the template's newest release as one PR/MR.

A template repository released as 1.0.0 and 1.1.0 (with a CHANGELOG), services rendered from
1.0.0 with the real copier CLI and pushed to a bare git remote, and a loopback fake of the
GitHub and GitLab REST endpoints the script calls. The script runs the real copier, git and uv
and the service's own gates.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from .support import (
    COPIER,
    HOST_PYTHON,
    QUESTIONS,
    UV,
    Template,
    attempt,
    commit,
    edit,
    git,
    run,
    send_json,
    set_hash_seed,
)

SCRIPT = Path("scripts") / "template-update"
TOKEN = "test-token-123"
GITHUB_REPOSITORY = "acme/payments"
GITLAB_PROJECT = "42"
BRANCH = "template-update/1.1.0"
RESULT = re.compile(r"^template-update: result=(\S+)(.*)$", re.MULTILINE)
CHANGELOG_1_0_0 = """# Changelog

## [Unreleased]

Nothing yet.

## [1.0.0] - 2026-11-01

- The first release of the starter kit.
"""
RELEASE_1_1_0 = """## [1.1.0] - 2026-11-30

### Changed

- Images set PYTHONFAULTHANDLER=1: a crash prints every thread's traceback.
- The dev group gains pytest-timeout; run `uv lock` after the update.

"""


# ---------------------------------------------------------------- the template and services


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """This checkout released as 1.0.0, then a typical change released as 1.1.0."""
    template = Template.from_checkout(tmp_path_factory.mktemp("releases") / "template")
    (template.path / "CHANGELOG.md").write_text(CHANGELOG_1_0_0)
    template.release("1.0.0")
    template.set_fault_handler()
    template.add_dev_dependency("pytest-timeout>=2.3")
    template.edit("CHANGELOG.md", "## [1.0.0]", f"{RELEASE_1_1_0}## [1.0.0]")
    template.release("1.1.0")
    return template


def test_template_fixture_changelog_grows_by_the_release(template: Template) -> None:
    before = git("show", "1.0.0:CHANGELOG.md", cwd=template.path)
    assert "## [1.0.0]" in before
    assert "## [1.1.0]" not in before


def render(template: Template, destination: Path, ref: str, *data: str) -> Path:
    """`copier copy` at a release, the owner's first commit, pushed to a bare remote."""
    options = [f"--data={item}" for item in (f"python_version={HOST_PYTHON}", *data)]
    copy = ("copy", "--trust", "--defaults", "--vcs-ref", ref, *options)
    run(COPIER, *copy, template.path, destination, cwd=destination.parent)
    commit(destination, f"Render the service from {ref}")
    remote = destination.with_name(f"{destination.name}-remote.git")
    git("init", "--quiet", "--bare", "--initial-branch=main", str(remote), cwd=destination.parent)
    git("remote", "add", "origin", str(remote), cwd=destination)
    git("push", "--quiet", "origin", "main", cwd=destination)
    return destination


def remote_branches(project: Path) -> dict[str, str]:
    listed = git("ls-remote", "--heads", "origin", cwd=project).splitlines()
    return {ref.removeprefix("refs/heads/"): sha for sha, ref in map(str.split, listed)}


def answers_at(project: Path, ref: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(git("show", f"{ref}:.copier-answers.yml", cwd=project))
    return data


# ---------------------------------------------------------------- the fake forges


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    payload: Any


@dataclass
class FakeForge:
    """GitHub's pulls and GitLab's merge_requests endpoints, in memory; every call recorded."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    pulls: list[dict[str, Any]] = field(default_factory=list)
    merge_requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def writes(self) -> list[Call]:
        return [call for call in self.calls if call.method != "GET"]

    def handle(self, call: Call) -> tuple[int, Any]:
        with self.lock:
            self.calls.append(call)
            if call.path == "/graphql":
                if call.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return 401, {"message": "Bad credentials"}
                return self.graphql(call)
            github = re.fullmatch(r"/repos/([^/]+/[^/]+)/pulls(?:/(\d+))?", call.path)
            gitlab = re.fullmatch(r"/projects/([^/]+)/merge_requests(?:/(\d+))?", call.path)
            if github and github.group(1) == GITHUB_REPOSITORY:
                if call.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return 401, {"message": "Bad credentials"}
                return self.github(call, github.group(2))
            if gitlab and gitlab.group(1) == GITLAB_PROJECT:
                if call.headers.get("Private-Token") != TOKEN:
                    return 401, {"message": "401 Unauthorized"}
                return self.gitlab(call, gitlab.group(2))
            return 404, {"message": "Not Found"}

    def github(self, call: Call, number: str | None) -> tuple[int, Any]:
        if call.method == "GET":
            owner, branch = call.query["head"][0].split(":", 1)
            assert owner == GITHUB_REPOSITORY.split("/")[0]
            return 200, [pull for pull in self.pulls if pull["head"]["ref"] == branch]
        if call.method == "POST":
            pull = {
                "number": len(self.pulls) + 1,
                "node_id": f"PR_{len(self.pulls) + 1}",
                "html_url": f"https://github.example/pull/{len(self.pulls) + 1}",
                "head": {"ref": call.payload["head"]},
                **{key: call.payload[key] for key in ("title", "body", "base", "draft")},
            }
            self.pulls.append(pull)
            return 201, pull
        pull = self.pulls[int(number or 0) - 1]
        pull.update(call.payload)
        return 200, pull

    def graphql(self, call: Call) -> tuple[int, Any]:
        mutation = re.search(r"\{ (\w+)\(input: \{pullRequestId: \$id\}\)", call.payload["query"])
        assert mutation, call.payload
        (pull,) = [
            pull for pull in self.pulls if pull["node_id"] == call.payload["variables"]["id"]
        ]
        pull["draft"] = mutation.group(1) == "convertPullRequestToDraft"
        return 200, {"data": {mutation.group(1): {"clientMutationId": None}}}

    def gitlab(self, call: Call, iid: str | None) -> tuple[int, Any]:
        if call.method == "GET":
            branch = call.query["source_branch"][0]
            return 200, [mr for mr in self.merge_requests if mr["source_branch"] == branch]
        if call.method == "POST":
            iid = str(len(self.merge_requests) + 1)
            merge_request = {
                "iid": int(iid),
                "web_url": f"https://gitlab.example/-/merge_requests/{iid}",
                **call.payload,
            }
            self.merge_requests.append(merge_request)
            return 201, merge_request
        merge_request = self.merge_requests[int(iid or 0) - 1]
        merge_request.update(call.payload)
        return 200, merge_request


def serve(forge: FakeForge) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            call = Call(
                self.command,
                parts.path.removeprefix("/api"),
                parse_qs(parts.query),
                {key.title(): value for key, value in self.headers.items()},
                json.loads(body) if body else None,
            )
            status, payload = forge.handle(call)
            send_json(self, status, payload)

        def do_GET(self) -> None:
            self.answer()

        def do_POST(self) -> None:
            self.answer()

        def do_PATCH(self) -> None:
            self.answer()

        def do_PUT(self) -> None:
            self.answer()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the recorded calls are the log."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    forge.url = f"http://127.0.0.1:{server.server_address[1]}/api"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def forge() -> Iterator[FakeForge]:
    fake = FakeForge()
    server = serve(fake)
    yield fake
    server.shutdown()
    server.server_close()


# ---------------------------------------------------------------- running the script


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def result(self) -> str:
        match = RESULT.search(self.stdout.strip().splitlines()[-1])
        assert match, f"no result line:\n{self.stdout}\n{self.stderr}"
        return match.group(1)

    @property
    def outcome(self) -> tuple[int, str]:
        """The exit code and the result the last line reports."""
        return self.code, self.result

    @property
    def details(self) -> dict[str, str]:
        last = self.stdout.strip().splitlines()[-1]
        return dict(pair.split("=", 1) for pair in shlex.split(last)[2:])


def template_update(project: Path, *options: str, token: str | None = TOKEN) -> Run:
    """The script as CI runs it, with CI's variables dropped and copier pinned to this venv's."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GITHUB_", "CI_", "TEMPLATE_UPDATE"))
    }
    environment.update(COPIER=str(COPIER), UV=str(UV))
    if token:
        environment["TEMPLATE_UPDATE_TOKEN"] = token
    result = attempt(project / SCRIPT, *options, cwd=project, env=environment, timeout=900)
    return Run(result.returncode, result.stdout, result.stderr)


def github_options(forge: FakeForge) -> tuple[str, ...]:
    return ("--forge", "github", "--api-url", forge.url, "--repository", GITHUB_REPOSITORY)


def gitlab_options(forge: FakeForge) -> tuple[str, ...]:
    return ("--forge", "gitlab", "--api-url", forge.url, "--repository", GITLAB_PROJECT)


def checkout(project: Path, ref: str, destination: Path) -> Path:
    """A worktree of `ref`, for checks that need its files on disk."""
    git("worktree", "add", "--quiet", "--detach", str(destination), ref, cwd=project)
    return destination


# ---------------------------------------------------------------- a clean update on GitLab


@dataclass
class CleanUpdate:
    project: Path
    main_before: str
    without_token: Run
    first: Run
    second: Run
    calls_after_first: int
    pushed_after_first: dict[str, str]


@pytest.fixture(scope="module")
def clean(
    template: Template, forge: FakeForge, tmp_path_factory: pytest.TempPathFactory
) -> CleanUpdate:
    """An owner's service on 1.0.0: run without a token, then with one, then once more."""
    project = render(template, tmp_path_factory.mktemp("clean") / "service", "1.0.0", "ci=gitlab")
    notes = project / "docs" / "runbook.md"
    notes.parent.mkdir()
    notes.write_text("# Runbook\n\nPage #payments-oncall.\n")
    commit(project, "Owner: runbook")
    git("push", "--quiet", "origin", "main", cwd=project)
    main_before = git("rev-parse", "main", cwd=project).strip()
    without_token = template_update(project, *gitlab_options(forge), token=None)
    first = template_update(project, *gitlab_options(forge))
    calls, pushed = len(forge.calls), remote_branches(project)
    second = template_update(project, *gitlab_options(forge))
    return CleanUpdate(project, main_before, without_token, first, second, calls, pushed)


def test_without_a_token_it_prepares_the_branch_pushes_nothing_and_says_so(
    clean: CleanUpdate,
) -> None:
    run = clean.without_token
    assert run.outcome == (0, "updated"), run.stderr
    assert run.details["pushed"] == "no"
    assert run.details["request"] == "none"
    assert "TEMPLATE_UPDATE_TOKEN is not set, so nothing is pushed" in run.stderr


def test_clean_update_commits_the_release_on_its_branch(clean: CleanUpdate) -> None:
    project = clean.project
    assert clean.first.outcome == (0, "updated"), clean.first.stderr
    assert clean.first.details["gates"] == "passed"
    assert answers_at(project, BRANCH)["_commit"] == "1.1.0"
    assert answers_at(project, "main")["_commit"] == "1.0.0"
    assert git("rev-parse", f"{BRANCH}^", cwd=project).strip() == clean.main_before
    assert "PYTHONFAULTHANDLER=1" in git("show", f"{BRANCH}:Dockerfile", cwd=project)
    # The owner is left where they were: on main, with a clean tree.
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=project).strip() == "main"
    assert git("status", "--porcelain", cwd=project) == ""


def test_clean_update_relocks_and_passes_the_gates(clean: CleanUpdate, tmp_path: Path) -> None:
    worktree = checkout(clean.project, BRANCH, tmp_path / "branch")
    run(UV, "lock", "--check", cwd=worktree)
    assert "pytest-timeout" in (worktree / "uv.lock").read_text()
    message = git("log", "-1", "--format=%B", BRANCH, cwd=clean.project)
    for gate in ("uv lock", "uv sync --locked", "uv run --locked mypy", "uv run --locked pytest"):
        assert f"| `{gate}` | passed |" in message


def test_clean_update_is_pushed_and_opens_one_merge_request(
    clean: CleanUpdate, forge: FakeForge
) -> None:
    assert "already holds this update" in clean.first.stderr, "the token run redid the update"
    assert clean.pushed_after_first[BRANCH] == git("rev-parse", BRANCH, cwd=clean.project).strip()
    opened = [call for call in forge.writes() if call.path.startswith("/projects/")]
    assert [(call.method, call.path) for call in opened] == [
        ("POST", f"/projects/{GITLAB_PROJECT}/merge_requests")
    ]
    payload = opened[0].payload
    assert payload["title"] == "Update the template from 1.0.0 to 1.1.0"
    assert payload["source_branch"] == BRANCH
    assert payload["target_branch"] == "main"
    body = payload["description"]
    assert "## Conflicts\n\nNone: the release applied cleanly." in body
    assert "| `uv run --locked ruff format --check` | passed |" in body
    assert "### [1.1.0] - 2026-11-30" in body
    assert "- Images set PYTHONFAULTHANDLER=1" in body
    assert "first release" not in body, "a section from before the service's release"
    assert "Nothing yet." not in body
    assert clean.first.details["request"] == "https://gitlab.example/-/merge_requests/1"


def test_second_run_changes_nothing_and_opens_no_duplicate(
    clean: CleanUpdate, forge: FakeForge
) -> None:
    assert clean.second.outcome == (0, "updated"), clean.second.stderr
    assert clean.second.details["request"] == "https://gitlab.example/-/merge_requests/1"
    later = forge.calls[clean.calls_after_first :]
    gitlab_calls = [call for call in later if call.path.startswith("/projects/")]
    assert [call.method for call in gitlab_calls] == ["GET"]
    assert remote_branches(clean.project) == clean.pushed_after_first
    assert "push" not in clean.second.stderr.split("already holds this update")[1]


def test_up_to_date_service_does_nothing(
    clean: CleanUpdate, template: Template, forge: FakeForge, tmp_path: Path
) -> None:
    project = render(template, tmp_path / "service", "1.1.0")
    calls = len(forge.calls)
    result = template_update(project, *github_options(forge))
    assert (result.code, result.result) == (0, "up-to-date"), result.stderr
    assert result.details == {"current": "1.1.0"}
    assert len(forge.calls) == calls
    assert remote_branches(project) == {"main": git("rev-parse", "main", cwd=project).strip()}
    assert git("branch", "--list", "template-update/*", cwd=project) == ""


def test_failing_gate_is_reported_and_exits_3(template: Template, tmp_path: Path) -> None:
    project = render(template, tmp_path / "service", "1.0.0", "ci=none")
    tests = project / "tests" / "test_app.py"
    tests.write_text(
        tests.read_text() + "\n\ndef test_owner_bug() -> None:\n    assert 1 + 1 == 3\n"
    )
    commit(project, "Owner: a test that fails")
    result = template_update(project)
    assert (result.code, result.result) == (3, "gates-failed"), result.stderr
    assert result.details["gates"] == "failed"
    message = git("log", "-1", "--format=%B", BRANCH, cwd=project)
    assert "| `uv run --locked pytest` | FAILED |" in message
    assert "| `uv run --locked mypy` | passed |" in message
    assert "test_owner_bug" in result.stderr, "the failing gate's output is not shown"
    assert "no forge (--forge none)" in result.stderr


def test_dirty_tree_is_an_error_and_changes_nothing(clean: CleanUpdate) -> None:
    project = clean.project
    notes = project / "docs" / "runbook.md"
    original = notes.read_text()
    notes.write_text(original + "Unsaved work.\n")
    try:
        result = template_update(project, "--forge", "none")
    finally:
        notes.write_text(original)
    assert (result.code, result.result) == (1, "error")
    assert "commit or stash" in result.details["reason"]
    assert "commit or stash them first" in result.stderr


# ---------------------------------------------------------------- a conflicting update on GitHub


@dataclass
class ConflictingUpdate:
    project: Path
    first: Run
    second: Run
    writes_after_first: int


@pytest.fixture(scope="module")
def conflicting(
    template: Template, forge: FakeForge, tmp_path_factory: pytest.TempPathFactory
) -> ConflictingUpdate:
    """A GitHub service whose owner edited the lines the release changes."""
    project = render(template, tmp_path_factory.mktemp("conflicting") / "service", "1.0.0")
    set_hash_seed(project)
    commit(project, "Owner: hash seed")
    git("push", "--quiet", "origin", "main", cwd=project)
    first = template_update(project, *github_options(forge))
    writes = len(forge.writes())
    second = template_update(project, *github_options(forge))
    return ConflictingUpdate(project, first, second, writes)


def test_overlapping_edit_opens_a_draft_pull_request_naming_the_file(
    conflicting: ConflictingUpdate, forge: FakeForge
) -> None:
    assert conflicting.first.outcome == (2, "conflicts"), conflicting.first.stderr
    assert conflicting.first.details["conflicts"] == "1"
    opened = [call for call in forge.writes() if call.path.startswith("/repos/")]
    assert [(call.method, call.path) for call in opened] == [
        ("POST", f"/repos/{GITHUB_REPOSITORY}/pulls")
    ]
    payload = opened[0].payload
    assert payload["title"] == "Update the template from 1.0.0 to 1.1.0"
    assert payload["draft"] is True
    assert payload["head"] == BRANCH
    assert payload["base"] == "main"
    conflicts = payload["body"].split("## Conflicts")[1].split("## Gates")[0]
    assert "- `Dockerfile`\n" in conflicts
    assert "resolve" in conflicts.lower()
    assert "### [1.1.0]" in payload["body"]
    pushed = remote_branches(conflicting.project)
    assert pushed[BRANCH] == git("rev-parse", BRANCH, cwd=conflicting.project).strip()
    assert conflicting.first.details["request"] == "https://github.example/pull/1"


def test_conflicted_branch_holds_the_markers_and_fails_the_conflict_gate(
    conflicting: ConflictingUpdate, tmp_path: Path
) -> None:
    worktree = checkout(conflicting.project, BRANCH, tmp_path / "branch")
    dockerfile = (worktree / "Dockerfile").read_text()
    assert "<<<<<<< before updating\n" in dockerfile
    assert "PYTHONHASHSEED=0" in dockerfile
    gate = template_update(worktree, "--check-conflicts")
    assert gate.code == 2
    assert "Dockerfile: unresolved" in gate.stdout


def test_conflicting_rerun_opens_no_duplicate(
    conflicting: ConflictingUpdate, forge: FakeForge
) -> None:
    assert conflicting.second.code == 2, conflicting.second.stderr
    assert len(forge.writes()) == conflicting.writes_after_first
    assert [pull["head"]["ref"] for pull in forge.pulls] == [BRANCH]


def test_once_main_no_longer_conflicts_the_rerun_redoes_the_update_and_is_ready_for_review(
    conflicting: ConflictingUpdate, forge: FakeForge
) -> None:
    """Runs after the tests above: the owner drops the overlapping edit on main."""
    project = conflicting.project
    before = remote_branches(project)[BRANCH]
    edit(project / "Dockerfile", "    PYTHONHASHSEED=0 \\\n", "")
    commit(project, "Owner: drop the hash seed")
    git("push", "--quiet", "origin", "main", cwd=project)
    writes = len(forge.writes())

    result = template_update(project, *github_options(forge))
    assert (result.code, result.result) == (0, "updated"), result.stderr
    assert "already holds this update" not in result.stderr
    after = remote_branches(project)[BRANCH]
    assert after != before, "the branch was not redone and force-pushed"
    assert (
        git("rev-parse", f"{after}^", cwd=project).strip()
        == git("rev-parse", "main", cwd=project).strip()
    )
    patch, ready = forge.writes()[writes:]
    assert (patch.method, patch.path) == ("PATCH", f"/repos/{GITHUB_REPOSITORY}/pulls/1")
    assert "None: the release applied cleanly." in patch.payload["body"]
    assert (ready.method, ready.path) == ("POST", "/graphql")
    assert "markPullRequestReadyForReview" in ready.payload["query"]
    assert ready.payload["variables"] == {"id": "PR_1"}
    assert [pull["draft"] for pull in forge.pulls] == [False]


# ---------------------------------------------------------------- the conflict gate


def test_conflict_gate_fails_on_a_marker_and_on_an_ignored_rej_file(
    template: Template, tmp_path: Path
) -> None:
    project = render(template, tmp_path / "service", "1.1.0", "ci=none")
    clean = template_update(project, "--check-conflicts")
    assert clean.code == 0, clean.stdout + clean.stderr

    app = next((project / "src").glob("*/app.py"))
    original = app.read_text()
    app.write_text(f"<<<<<<< before updating\n{original}=======\n>>>>>>> after updating\n")
    marker = template_update(project, "--check-conflicts")
    assert marker.code == 2
    assert f"{app.relative_to(project).as_posix()}: unresolved" in marker.stdout
    app.write_text(original)

    (project / ".git" / "info" / "exclude").write_text("*.rej\n")
    reject = project / "Dockerfile.rej"
    reject.write_text("@@ -1 +1 @@\n")
    assert git("status", "--porcelain", cwd=project) == "", "the .rej file is not ignored"
    ignored = template_update(project, "--check-conflicts")
    assert ignored.code == 2
    assert "Dockerfile.rej: unresolved" in ignored.stdout
    reject.unlink()
    assert template_update(project, "--check-conflicts").code == 0


# ---------------------------------------------------------------- what the render ships


def test_script_is_executable_and_pins_this_copier(clean: CleanUpdate) -> None:
    script = clean.project / SCRIPT
    assert os.access(script, os.X_OK)
    assert git("ls-files", "--stage", str(SCRIPT), cwd=clean.project).startswith("100755 ")
    assert f'COPIER_VERSION = "{version("copier")}"' in script.read_text()


def test_help_documents_every_option_exit_code_and_result(clean: CleanUpdate) -> None:
    shown = template_update(clean.project, "--help")
    assert shown.code == 0
    for option in ("--check-conflicts", "--forge", "--api-url", "--repository", "--remote"):
        assert option in shown.stdout
    for code, word in (("0", "up to date"), ("1", "error"), ("2", "conflicts"), ("3", "gates")):
        assert re.search(rf"^  {code}  {word}", shown.stdout, re.MULTILINE), word
    results = "result=<up-to-date|updated|conflicts|gates-failed|error>"
    assert results in shown.stdout
    guide = (clean.project / "UPDATING.md").read_text()
    assert results in guide
    for option in ("--check-conflicts", "--forge", "--api-url", "--repository", "--remote"):
        assert f"`{option}" in guide, option


def test_github_workflow_runs_exactly_the_script(conflicting: ConflictingUpdate) -> None:
    workflows = conflicting.project / ".github" / "workflows"
    workflow = yaml.safe_load((workflows / "template-update.yml").read_text())
    assert workflow[True] == {"schedule": [{"cron": "23 5 * * 1"}], "workflow_dispatch": None}
    assert workflow["permissions"] == {}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"contents": "read"}
    (step,) = [step for step in job["steps"] if step.get("name") == "Template update"]
    assert step["run"] == str(SCRIPT)
    assert step["env"] == {"TEMPLATE_UPDATE_TOKEN": "${{ secrets.TEMPLATE_UPDATE_TOKEN }}"}
    ci = yaml.safe_load((workflows / "ci.yml").read_text())
    gate = [step for step in ci["jobs"]["conflicts"]["steps"] if "run" in step]
    assert [step["run"] for step in gate] == [f"{SCRIPT} --check-conflicts"]


def test_gitlab_job_runs_exactly_the_script_on_schedule_or_by_hand(clean: CleanUpdate) -> None:
    pipeline = yaml.safe_load((clean.project / ".gitlab-ci.yml").read_text())
    job = pipeline["template-update"]
    assert job["script"] == [str(SCRIPT)]
    assert job["rules"] == [
        {"if": '$CI_PIPELINE_SOURCE == "schedule"'},
        {"if": '$CI_PIPELINE_SOURCE == "web"', "when": "manual", "allow_failure": True},
    ]
    assert pipeline["conflicts"]["script"] == [f"{SCRIPT} --check-conflicts"]
    assert "rules" not in pipeline["conflicts"], "the conflict gate runs in every pipeline"


def test_renovate_example_in_the_guide_matches_renovates_schema(
    clean: CleanUpdate, tmp_path: Path
) -> None:
    guide = (clean.project / "UPDATING.md").read_text()
    (example,) = re.findall(r"```json\n(.*?)```", guide, re.DOTALL)
    config = json.loads(example)
    assert config["enabledManagers"] == ["copier"]
    assert config["ignoreScripts"] is False
    path = tmp_path / "renovate.json"
    path.write_text(example)
    checker = Path(sys.executable).with_name("check-jsonschema")
    run(checker, "--builtin-schema", "vendor.renovate", path, cwd=tmp_path)


def test_copier_version_is_the_one_the_template_is_tested_with() -> None:
    config = QUESTIONS
    assert config["copier_version"]["default"] == version("copier")
    assert shutil.which("git"), "the script and these tests need git"
