"""The rendered CI's image jobs: one build entry point (docker-bake.hcl), a build cache no pull
request can poison, the same smoke test and image scan on both forges, a weekly rebuild."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from .support import (
    COMBINATIONS,
    answers,
    attempt,
    bake_action_command,
    bake_definition,
    docker,
    require_engine,
    run,
    unique_name,
    workflow_step,
)

Rendered = Callable[[str], Path]

# GitHub CI, postgres, a distroless runtime, lockable here.
GITHUB = "py313-uv-managed-distroless-trixie-uv-run-postgres-tracing"
GITLAB = "py311-uv-managed-bookworm-app-venv-uv-run-all-services-gitlab"
SHA_PINNED = re.compile(r"[\w-]+/[\w-]+@[0-9a-f]{40}")
WEEKLY = re.compile(r"\d+ \d+ \* \* [0-6]")
# A cold image build on a busy machine.
BUILD_TIMEOUT = 1800


def slug_of(project: Path) -> str:
    return str(yaml.safe_load((project / ".copier-answers.yml").read_text())["project_slug"])


def gitlab_ci(project: Path) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    return config


def set_options(command: str) -> list[str]:
    """The values of a `docker buildx bake` command's --set options."""
    words = shlex.split(command)
    return [words[index + 1] for index, word in enumerate(words) if word == "--set"]


def without_cache_options(command: str) -> list[str]:
    """A bake command without its registry cache: this engine's builder exports no cache."""
    words = shlex.split(command)
    kept: list[str] = []
    for word in words:
        if kept and kept[-1] == "--set" and word.startswith("*.cache-"):
            kept.pop()
        elif word != "$NO_CACHE":
            kept.append(word)
    return kept


@pytest.mark.parametrize("name", COMBINATIONS)
def test_every_render_bakes_the_runtime_stage(rendered: Rendered, name: str) -> None:
    project = rendered(name)
    targets = bake_definition(project, {})
    assert targets["image"]["target"] == "runtime"
    assert targets["image"]["tags"] == [f"{slug_of(project)}:latest"]
    # Unset, the base images are the Dockerfile's own defaults: no empty build argument.
    assert "args" not in targets["image"]
    given = bake_definition(project, {"BASE_IMAGE": "mirror.example/python:3"})["image"]
    assert given["args"] == {"BASE_IMAGE": "mirror.example/python:3"}


def test_github_builds_with_a_cache_pull_requests_cannot_poison(rendered: Rendered) -> None:
    project = rendered(GITHUB)
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    on = workflow[True]  # YAML 1.1 reads `on` as true
    assert on["push"] == {"branches": ["main"]}
    assert "pull_request" in on
    (schedule,) = on["schedule"]
    assert WEEKLY.fullmatch(schedule["cron"]), schedule

    job = workflow["jobs"]["image"]
    scope = " ".join(job["env"]["CACHE_SCOPE"].split())
    assert scope == (
        "${{ github.event_name == 'pull_request' "
        "&& format('pr-{0}', github.event.pull_request.number) || 'main' }}"
    )
    uses = [step["uses"] for step in job["steps"] if "uses" in step]
    assert all(SHA_PINNED.match(action) for action in uses), uses
    assert [action.split("@")[0] for action in uses] == [
        "actions/checkout",
        "docker/setup-buildx-action",  # a docker-container builder: it can use GitHub's cache
        "docker/bake-action",
    ]
    build = workflow_step(project, "ci.yml", "image", "name", "Build")
    options = build["with"]
    assert (options["source"], options["files"], options["load"]) == (".", "docker-bake.hcl", True)
    # Every run reads main's cache and its own; it writes only its own scope.
    assert options["set"].splitlines() == [
        "*.cache-from=type=gha,scope=main",
        "*.cache-from=type=gha,scope=${{ env.CACHE_SCOPE }}",
        "*.cache-to=type=gha,scope=${{ env.CACHE_SCOPE }},mode=max,ignore-error=true",
    ]
    # As buildx resolves them for pull request 7: both scopes read, only its own written.
    overrides = options["set"].replace("${{ env.CACHE_SCOPE }}", "pr-7").splitlines()
    printed = run(
        *("docker", "buildx", "bake", "--file", "docker-bake.hcl", "--print"),
        *(word for line in overrides for word in ("--set", line)),
        cwd=project,
    )
    image = json.loads(printed.stdout)["target"]["image"]
    assert image["cache-from"] == ["type=gha,scope=main", "type=gha,scope=pr-7"]
    assert image["cache-to"] == ["type=gha,scope=pr-7,mode=max,ignore-error=true"]
    # The weekly run reuses nothing: base-image and Debian fixes reach the image.
    assert options["no-cache"] == "${{ github.event_name == 'schedule' }}"
    slug = slug_of(project)
    assert build["env"]["TAG"] == f"{slug}:ci"
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs == [f"scripts/smoke-test {slug}:ci", f"scripts/scan-image {slug}:ci"]


def test_gitlab_builds_with_a_cache_branches_cannot_poison(rendered: Rendered) -> None:
    project = rendered(GITLAB)
    job = gitlab_ci(project)["build-image"]
    assert job["variables"]["CACHE"] == "$CI_REGISTRY_IMAGE/build-cache"
    slug = slug_of(project)
    assert job["variables"]["TAG"] == f"{slug}:ci"
    assert job["rules"] == [
        {"if": '$CI_PIPELINE_SOURCE == "schedule"', "variables": {"NO_CACHE": "--no-cache"}},
        {"when": "on_success"},
    ]
    assert "docker buildx create --driver docker-container --use" in job["before_script"]
    bake, *checks = job["script"]
    assert bake.startswith("docker buildx bake --load $NO_CACHE ")
    assert set_options(bake) == [
        "*.cache-from=type=registry,ref=$CACHE:$CI_DEFAULT_BRANCH",
        "*.cache-from=type=registry,ref=$CACHE:$CI_COMMIT_REF_SLUG",
        "*.cache-to=type=registry,ref=$CACHE:$CI_COMMIT_REF_SLUG,mode=max,ignore-error=true",
    ]
    # The same smoke test and scan as GitHub's image job.
    assert checks == [f"scripts/smoke-test {slug}:ci", f"scripts/scan-image {slug}:ci"]


@pytest.mark.parametrize("name", [GITHUB, GITLAB])
def test_the_scan_fails_on_fixable_high_and_critical_findings_with_a_pinned_trivy(
    rendered: Rendered, name: str
) -> None:
    script = (rendered(name) / "scripts/scan-image").read_text()
    (image,) = re.findall(r"TRIVY_IMAGE:-([^}]+)", script)
    assert re.fullmatch(r"aquasec/trivy:\d+\.\d+\.\d+", image), image
    command = " ".join(script.split("\\\n"))
    for option in ("--severity HIGH,CRITICAL", "--ignore-unfixed", "--exit-code 1"):
        assert option in command, option


# ---------------------------------------------------------------- on the local engine

STUB_TRIVY = """
FROM debian:bookworm-slim
ENTRYPOINT ["sh", "-c", "echo trivy $*; test -S /var/run/docker.sock; exit 3", "trivy"]
"""


@pytest.mark.docker
def test_the_scan_runs_the_scanner_on_the_image_and_fails_with_it(
    rendered: Rendered, tmp_path: Path
) -> None:
    """A stand-in scanner that reports findings: the script gives it the image and the engine,
    and fails with it (the real scanner needs its database from a registry)."""
    require_engine()
    stub = unique_name("cus-stub-trivy") + ":test"
    try:
        docker("build", "--tag", stub, "-", stdin=STUB_TRIVY)
        result = attempt(
            "scripts/scan-image",
            "acme:ci",
            cwd=rendered(GITHUB),
            env={**os.environ, "TRIVY_IMAGE": stub},
        )
    finally:
        docker("image", "rm", "--force", stub, check=False)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.startswith("trivy image --scanners vuln --severity HIGH,CRITICAL")
    assert result.stdout.rstrip().endswith(" acme:ci")


def smoke_test(project: Path, tag: str) -> subprocess.CompletedProcess[str]:
    return attempt("scripts/smoke-test", tag, cwd=project)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("name", [GITHUB, GITLAB])
def test_the_ci_build_command_builds_and_the_smoke_test_passes(
    rendered: Rendered, name: str
) -> None:
    """Each forge's build command, run here (its cache options left out), then the smoke test:
    /health and /ready answer 200 with the backing services beside the image."""
    require_engine()
    project = rendered(name)
    tag = unique_name("cus-ci") + ":test"
    if name == GITHUB:
        command = bake_action_command(workflow_step(project, "ci.yml", "image", "name", "Build"))
    else:
        command = without_cache_options(gitlab_ci(project)["build-image"]["script"][0])
    assert command[:3] == ["docker", "buildx", "bake"]
    unhealthy = unique_name("cus-ci-unhealthy") + ":test"
    try:
        built = attempt(
            *command, cwd=project, env={**os.environ, "TAG": tag}, timeout=BUILD_TIMEOUT
        )
        assert built.returncode == 0, built.stderr[-3000:]
        passed = smoke_test(project, tag)
        assert passed.returncode == 0, passed.stdout + passed.stderr
        assert '/health 200 {"status":"ok"}' in passed.stdout
        # Backing services may still be starting: the smoke test retries until ready.
        lines = passed.stdout.splitlines()
        *starting, ready = [line for line in lines if line.startswith("/ready ")]
        assert all(line.startswith("/ready 503 ") for line in starting), starting
        checks = dict.fromkeys(answers(name)["services"], "ok")
        assert ready.startswith("/ready 200 ")
        assert json.loads(ready.removeprefix("/ready 200 ")) == {"status": "ok", "checks": checks}

        # An image that never becomes healthy fails the smoke test, with its logs.
        fails = f'FROM {tag}\nHEALTHCHECK --interval=1s --retries=1 CMD ["false"]\n'
        docker("build", "--tag", unhealthy, "-", stdin=fails)
        failed = smoke_test(project, unhealthy)
        assert failed.returncode != 0
        assert "is unhealthy, not healthy" in failed.stderr
        for image in (tag, unhealthy):
            left = docker("ps", "--all", "--quiet", "--filter", f"ancestor={image}").stdout
            assert not left.strip(), "the smoke test leaves no container behind"
    finally:
        docker("image", "rm", "--force", tag, unhealthy, check=False)


@pytest.mark.docker
@pytest.mark.slow
def test_the_readme_build_command_builds_the_image(rendered: Rendered) -> None:
    require_engine()
    project = rendered(GITHUB)
    readme = (project / "README.md").read_text()
    section = readme.split("## Container image", 1)[1]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    build = block.splitlines()[0]
    assert build == "docker buildx bake"
    tag = unique_name("cus-readme") + ":test"
    try:
        result = attempt(
            "sh", "-c", build, cwd=project, env={**os.environ, "TAG": tag}, timeout=BUILD_TIMEOUT
        )
        assert result.returncode == 0, result.stderr[-3000:]
        config = docker("image", "inspect", "--format", "{{json .Config.Healthcheck}}", tag)
        assert "healthcheck" in config.stdout
    finally:
        docker("image", "rm", "--force", tag, check=False)
