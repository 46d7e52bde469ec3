"""Supply chain: the rendered dependency audit, against a stand-in OSV, and the runtime SBOM.

Each test runs the command the rendered CI runs, read from the rendered CI file, in a copy of a
render whose Python this machine has (so its uv.lock exists). Only the audit's OSV URL is
added: uv audit has no environment variable for it. uv still asks the package index for
PEP 792 project statuses, as it does in CI.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from jsonschema import Draft7Validator

from .support import (
    COMBINATIONS,
    INTERPRETERS,
    QUESTIONS,
    Advisory,
    OsvStub,
    answers,
    attempt,
    python_of,
)
from .support.osv import normalized

Rendered = Callable[[str], Path]
CI_DEFAULT = QUESTIONS["ci"]["default"]
# For each CI, the first named combination that locks on this machine.
BY_CI = {
    ci: next(
        name
        for name in COMBINATIONS
        if answers(name).get("ci", CI_DEFAULT) == ci and python_of(name) in INTERPRETERS
    )
    for ci in ("github", "gitlab")
}
AUDIT = "scripts/audit.py"
TODAY = datetime.datetime.now(datetime.UTC).date()


def workflow(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    return data


def pipeline(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    return data


def github_step(project: Path, job: str, name: str) -> dict[str, Any]:
    (step,) = [step for step in workflow(project)["jobs"][job]["steps"] if step.get("name") == name]
    return dict(step)


def ci_command(project: Path, ci: str, job: str) -> str:
    """The one command of the audit or sbom job of the rendered CI."""
    if ci == "github":
        return str(github_step(project, job, {"audit": "Audit", "sbom": "SBOM"}[job])["run"])
    (command,) = pipeline(project)[job]["script"]
    return str(command)


@pytest.fixture(params=sorted(BY_CI))
def service(request: pytest.FixtureRequest, rendered: Rendered, tmp_path: Path) -> tuple[str, Path]:
    """(ci, a copy of the render this test may change)."""
    ci = str(request.param)
    copy = tmp_path / "service"
    shutil.copytree(
        rendered(BY_CI[ci]), copy, symlinks=True, ignore=shutil.ignore_patterns(".venv")
    )
    return ci, copy


def shell(command: str, project: Path) -> subprocess.CompletedProcess[str]:
    """Run a CI command as the runner does, with uv's cache fresh as in CI."""
    environment = {**os.environ, "UV_CACHE_DIR": str(project.parent / "uv-cache")}
    return attempt("bash", "-e", "-c", command, cwd=project, env=environment)


def audited(command: str, project: Path, stub: OsvStub) -> subprocess.CompletedProcess[str]:
    """The CI's audit command, sent to the stub."""
    assert command.startswith(AUDIT), command
    return shell(command.replace(AUDIT, f"{AUDIT} --service-url {stub.url}", 1), project)


def audit(
    service: tuple[str, Path], *advisories: Advisory
) -> tuple[subprocess.CompletedProcess[str], OsvStub]:
    """The rendered CI's audit job against a stub that knows these advisories: its result, and
    the stub (what uv asked it)."""
    ci, project = service
    with OsvStub(advisories) as stub:
        return audited(ci_command(project, ci, "audit"), project, stub), stub


def locked_packages(project: Path) -> dict[str, str]:
    """Every package of uv.lock but the project itself: name -> version."""
    lock = tomllib.loads((project / "uv.lock").read_text())
    return {
        package["name"]: package["version"]
        for package in lock["package"]
        if "editable" not in package["source"]
    }


def reachable(project: Path, group: str | None) -> set[str]:
    """The locked packages the project's dependencies (or a dependency group) pull in."""
    lock = tomllib.loads((project / "uv.lock").read_text())
    packages = {package["name"]: package for package in lock["package"]}
    (root,) = [package for package in lock["package"] if "editable" in package["source"]]
    pending = list(root["dev-dependencies"][group] if group else root.get("dependencies", []))
    seen: set[tuple[str, str | None]] = set()
    while pending:
        dependency = pending.pop()
        package = packages[dependency["name"]]
        for extra in [None, *dependency.get("extra", [])]:
            if (package["name"], extra) not in seen:
                seen.add((package["name"], extra))
                optional = package.get("optional-dependencies", {})
                pending += optional.get(extra, []) if extra else package.get("dependencies", [])
    return {name for name, _ in seen}


def advisory_for(project: Path, package: str = "starlette") -> Advisory:
    """An advisory for the locked version of a runtime package (FastAPI's starlette)."""
    version = locked_packages(project)[package]
    return Advisory(
        id="GHSA-stub-0001-test",
        package=package,
        versions=(version,),
        summary="Request smuggling in the stub's imagination",
        aliases=("CVE-2099-0001",),
    )


def write_ignore(project: Path, vulnerability: str, reason: str, expires: str) -> None:
    with (project / "audit-ignores.toml").open("a") as file:
        file.write(f'\n[[ignore]]\nid = "{vulnerability}"\nreason = "{reason}"\n')
        file.write(f"expires = {expires}\n")


def test_each_ci_has_a_render_that_locks_here() -> None:
    assert set(BY_CI) == {"github", "gitlab"}


def test_the_audit_job_fails_the_pipeline(service: tuple[str, Path]) -> None:
    ci, project = service
    assert ci_command(project, ci, "audit") == AUDIT
    if ci == "github":
        step = github_step(project, "audit", "Audit")
        assert not {"if", "continue-on-error"} & set(step), step
        assert "continue-on-error" not in workflow(project)["jobs"]["audit"]
    else:
        job = pipeline(project)["audit"]
        assert not {"rules", "only", "when", "allow_failure"} & set(job), job
        assert job["stage"] == "test"


def test_audit_fails_naming_an_advisory_for_a_locked_package(service: tuple[str, Path]) -> None:
    _, project = service
    advisory = advisory_for(project)
    result, stub = audit(service, advisory)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"starlette {advisory.versions[0]} has 1 known vulnerability" in result.stdout
    assert f"{advisory.id}: {advisory.summary}" in result.stdout
    # uv asked about every locked package, the development tools included.
    locked = {(normalized(name), version) for name, version in locked_packages(project).items()}
    assert set(stub.queried) == locked


def test_audit_passes_without_an_advisory_for_the_locked_versions(
    service: tuple[str, Path],
) -> None:
    _, project = service
    other_version = Advisory("GHSA-stub-0002-test", "starlette", ("0.0.1",), "An old bug")
    result, stub = audit(service, other_version)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Found no known vulnerabilities" in result.stderr
    assert ("starlette", locked_packages(project)["starlette"]) in stub.queried


@pytest.mark.parametrize("name", ["id", "alias"])
def test_an_ignored_advisory_passes_and_its_reason_is_shown(
    service: tuple[str, Path], name: str
) -> None:
    _, project = service
    advisory = advisory_for(project)
    vulnerability = advisory.id if name == "id" else advisory.aliases[0]
    reason = "The service never parses multipart forms."
    write_ignore(project, vulnerability, reason, (TODAY + datetime.timedelta(days=30)).isoformat())
    result, _ = audit(service, advisory)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ignoring {vulnerability} until " in result.stderr
    assert reason in result.stderr
    assert advisory.id not in result.stdout


@pytest.mark.parametrize("found", [True, False], ids=["still-found", "gone"])
def test_an_expired_ignore_fails_the_audit(service: tuple[str, Path], found: bool) -> None:
    _, project = service
    advisory = advisory_for(project)
    reason = "Waiting for the upstream fix."
    yesterday = (TODAY - datetime.timedelta(days=1)).isoformat()
    write_ignore(project, advisory.id, reason, yesterday)
    result, stub = audit(service, *((advisory,) if found else ()))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"the ignore of {advisory.id} expired on {yesterday} ({reason})" in result.stderr
    assert (f"{advisory.id}: {advisory.summary}" in result.stdout) is found
    assert stub.queried, "the audit still ran"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('id = "GHSA-a"\nexpires = 2099-01-01', "needs exactly id, reason, expires"),
        ('id = "GHSA-a"\nreason = " "\nexpires = 2099-01-01', "reason must say why"),
        ('id = "GHSA-a"\nreason = "r"\nexpires = "2099-01-01"', "expires must be a date"),
        ('id = "GHSA-a CVE-b"\nreason = "r"\nexpires = 2099-01-01', "id must be one ID"),
    ],
    ids=["no-reason", "blank-reason", "quoted-date", "two-ids"],
)
def test_an_invalid_ignore_fails_before_auditing(
    service: tuple[str, Path], entry: str, message: str
) -> None:
    _, project = service
    with (project / "audit-ignores.toml").open("a") as file:
        file.write(f"\n[[ignore]]\n{entry}\n")
    result, stub = audit(service)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert not stub.queried


@pytest.mark.parametrize("option", ["ignore", "ignore-until-fixed"])
def test_an_ignore_in_uvs_own_settings_fails_the_audit(
    service: tuple[str, Path], option: str
) -> None:
    # uv would apply it silently: no reason, no expiry.
    _, project = service
    advisory = advisory_for(project)
    with (project / "pyproject.toml").open("a") as file:
        file.write(f'\n[tool.uv.audit]\n{option} = ["{advisory.id}"]\n')
    result, stub = audit(service, advisory)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"pyproject.toml: {option} = ['{advisory.id}'] has no reason or expiry" in result.stderr
    assert not stub.queried


def test_github_uploads_the_audit_sarif_to_code_scanning(
    rendered: Rendered, tmp_path: Path
) -> None:
    project = tmp_path / "service"
    shutil.copytree(rendered(BY_CI["github"]), project, ignore=shutil.ignore_patterns(".venv"))
    ci = workflow(project)
    assert ci["permissions"] == {"contents": "read"}
    job = ci["jobs"]["audit"]
    assert job["permissions"] == {"contents": "read", "security-events": "write"}
    sarif = github_step(project, "audit", "SARIF")
    (upload,) = [step for step in job["steps"] if "upload-sarif" in step.get("uses", "")]
    assert re.fullmatch(r"github/codeql-action/upload-sarif@[0-9a-f]{40}", upload["uses"])
    # Runs after a failed audit too (that is when the alerts matter), but not on cancellation.
    assert sarif["if"].startswith("!cancelled() && ")
    assert upload["if"] == "!cancelled() && steps.sarif.conclusion != 'skipped'"
    assert sarif["run"] == f"{AUDIT} --output-format sarif > {upload['with']['sarif_file']}"
    advisory = advisory_for(project)
    with OsvStub((advisory,)) as stub:
        result = audited(sarif["run"], project, stub)
    assert result.returncode == 1, result.stderr
    report = json.loads((project / upload["with"]["sarif_file"]).read_text())
    assert report["version"] == "2.1.0"
    (run,) = report["runs"]
    assert [finding["ruleId"] for finding in run["results"]] == [advisory.id]


def test_the_sbom_lists_the_locked_runtime_packages_and_validates(
    service: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ci, project = service
    command = ci_command(project, ci, "sbom")
    (path,) = re.findall(r"--output-file (\S+)", command)
    if ci == "github":
        (upload,) = [
            step
            for step in workflow(project)["jobs"]["sbom"]["steps"]
            if "upload-artifact" in step.get("uses", "")
        ]
        assert re.fullmatch(r"actions/upload-artifact@[0-9a-f]{40}", upload["uses"])
        assert upload["with"]["path"] == path
        assert upload["with"]["if-no-files-found"] == "error"
    else:
        artifacts = pipeline(project)["sbom"]["artifacts"]
        assert artifacts == {"paths": [path], "reports": {"cyclonedx": path}}
    result = shell(command, project)
    assert result.returncode == 0, result.stderr
    assert not result.stdout, "the SBOM goes to its file only"
    text = (project / path).read_text()
    # jsonschema checks the iri-reference format with an Earley parser, about a second for each
    # of the SBOM's hundreds of file URLs. PyPI's URLs are ASCII, so the uri-reference check
    # (RFC 3986, a regular expression) is as strict for them, and takes microseconds.
    checkers = Draft7Validator.FORMAT_CHECKER.checkers
    monkeypatch.setitem(checkers, "iri-reference", checkers["uri-reference"])
    error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(text)
    assert error is None, error
    sbom = json.loads(text)
    assert sbom["specVersion"] == "1.5"
    listed = {(component["name"], component["version"]) for component in sbom["components"]}
    locked = locked_packages(project)
    runtime = reachable(project, None)
    assert listed == {(name, locked[name]) for name in runtime}
    dev_only = reachable(project, "dev") - runtime
    assert {"mypy", "pytest", "ruff"} <= dev_only
    assert not {name for name, _ in listed} & dev_only
    assert {ref["purl"] for ref in sbom["components"]} == {
        f"pkg:pypi/{name}@{locked[name]}" for name in runtime
    }
