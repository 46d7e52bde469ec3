"""Docker engine access for the image and compose tests, with guaranteed clean-up."""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from .commands import attempt, succeeded

# .ci/run sets this: there, a missing engine is a failure, not a skip.
REQUIRE_DOCKER = os.environ.get("REQUIRE_DOCKER") == "1"


def engine_answers() -> bool:
    try:
        return (
            subprocess.run(
                ["docker", "info"], capture_output=True, timeout=30, check=False
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def require_engine() -> None:
    """Skip (or, under REQUIRE_DOCKER=1, fail) when no Docker engine answers."""
    if engine_answers():
        return
    reason = "no Docker engine answers `docker info` (run ../shared/docker/provision.sh)"
    if REQUIRE_DOCKER:
        pytest.fail(reason)
    pytest.skip(reason)


# Docker Engine 26's BuildKit can crash the whole engine (a nil pointer in walkProvenance; fixed
# upstream by moby/buildkit#6764) when a --no-cache build runs beside another build. Every
# build holds this lock, shared across the xdist workers; a --no-cache build holds it alone.
BUILD_LOCK = Path(tempfile.gettempdir()) / "copier-uv-service-docker-builds.lock"


def builds(arguments: Sequence[str]) -> bool:
    """Whether docker with these arguments builds an image (bake --print only reads)."""
    words = list(arguments)
    if words[:2] == ["buildx", "bake"]:
        return "--print" not in words
    return (
        words[:1] == ["build"]
        or words[:2] == ["buildx", "build"]
        or (words[:1] == ["compose"] and ("build" in words or "--build" in words))
    )


@contextmanager
def build_turn(arguments: Sequence[str]) -> Iterator[None]:
    """Hold the build lock while docker with these arguments runs, if it builds."""
    if not builds(arguments):
        yield
        return
    with BUILD_LOCK.open("a") as lock:  # closing it releases the lock
        fcntl.flock(lock, fcntl.LOCK_EX if "--no-cache" in arguments else fcntl.LOCK_SH)
        yield


def docker(
    *arguments: str,
    cwd: Path | None = None,
    check: bool = True,
    timeout: float = 900,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; on failure raise with its whole output."""
    with build_turn(arguments):
        result = attempt("docker", *arguments, cwd=cwd, timeout=timeout, stdin=stdin)
    return succeeded(result) if check else result


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@contextmanager
def built_image(context: Path, *build_arguments: str, tag: str | None = None) -> Iterator[str]:
    """`docker build` the context with its own Dockerfile; remove the image afterwards."""
    tag = tag or unique_name("cus-test") + ":test"
    try:
        docker("build", "--tag", tag, *build_arguments, ".", cwd=context)
        yield tag
    finally:
        docker("image", "rm", "--force", tag, check=False)


@contextmanager
def running_container(
    image: str, *run_arguments: str, command: tuple[str, ...] = ()
) -> Iterator[str]:
    """`docker run --detach`; the container is force-removed afterwards, even on failure."""
    name = unique_name("cus-test")
    try:
        docker("run", "--detach", "--name", name, *run_arguments, image, *command)
        yield name
    finally:
        docker("rm", "--force", "--volumes", name, check=False)


def inspect(name: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(docker("inspect", name).stdout)
    return data[0]


def wait_healthy(name: str, timeout: float = 60) -> None:
    """Wait for the container's HEALTHCHECK to report healthy; fail with its logs otherwise."""
    deadline = time.monotonic() + timeout
    status = "unknown"
    while time.monotonic() < deadline:
        state = inspect(name)["State"]
        status = state.get("Health", {}).get("Status", "none")
        if status == "healthy":
            return
        if not state["Running"]:
            break
        time.sleep(0.5)
    logs = docker("logs", name, check=False)
    raise AssertionError(f"{name} is {status}, not healthy\n{logs.stdout}\n{logs.stderr}")


def published_port(name: str, container_port: int) -> int:
    """The host port Docker published for a container's TCP port (`-p 127.0.0.1::PORT`)."""
    binding = docker("port", name, f"{container_port}/tcp").stdout.split()[0]
    return int(binding.rsplit(":", 1)[1])


def run_in_python_image(
    project: Path, uv: Path, *command: str, options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run a command in the project, mounted into the official image of its Python and
    Debian release, with uv mounted in and Python downloads off; the container is removed."""
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    image = f"python:{answers['python_version']}-slim-{answers['debian_release']}"
    container = unique_name("cus-python")
    try:
        return docker(
            "run",
            "--name",
            container,
            *("--volume", f"{project}:/project", "--workdir", "/project"),
            *("--volume", f"{uv}:/usr/local/bin/uv:ro", "--env", "UV_PYTHON_DOWNLOADS=never"),
            *options,
            image,
            *command,
        )
    finally:
        docker("rm", "--force", container, check=False)


# A compiler driver, assembler or linker (ld.so is the loader, not a linker) in a bin
# directory, target-prefixed or versioned too (x86_64-linux-gnu-gcc-12); anything of gcc's.
COMPILERS = r"gcc|g\+\+|cc|c\+\+|clang|clang\+\+|tcc|as|ld|ld\.bfd|ld\.gold|ld\.lld"
COMPILER = re.compile(rf".*/s?bin/(?:[\w.]+-)*(?:{COMPILERS})(?:-[\d.]+)?|.*/gcc/.*")


def image_files(tag: str) -> dict[str, tarfile.TarInfo]:
    """Every path of the image's filesystem (from `docker export`), without extracting it."""
    container = docker("create", tag).stdout.strip()
    try:
        with subprocess.Popen(["docker", "export", container], stdout=subprocess.PIPE) as export:
            assert export.stdout is not None
            with tarfile.open(fileobj=export.stdout, mode="r|") as archive:
                files = {"/" + info.name.removeprefix("./").rstrip("/"): info for info in archive}
        assert export.returncode == 0, f"docker export {tag} failed"
        return files
    finally:
        docker("rm", "--force", container, check=False)


# ---------------------------------------------------------------- the rendered CI's build steps


def workflow_step(project: Path, workflow: str, job: str, key: str, value: str) -> dict[str, Any]:
    """The one step of a rendered GitHub workflow's job whose `key` is `value`."""
    config = yaml.safe_load((project / ".github" / "workflows" / workflow).read_text())
    (step,) = [step for step in config["jobs"][job]["steps"] if step.get(key) == value]
    return dict(step)


def step_outputs(step: dict[str, Any], cwd: Path, folder: Path) -> dict[str, str]:
    """Run a `run:` step as a runner does and return what it wrote to $GITHUB_OUTPUT."""
    outputs = folder / "github-output"
    outputs.write_text("")
    environment = {**os.environ, "GITHUB_OUTPUT": str(outputs)}
    subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=environment, check=True)
    return dict(line.split("=", 1) for line in outputs.read_text().splitlines())


def bake_action_command(step: dict[str, Any]) -> list[str]:
    """The `docker buildx bake` command a docker/bake-action step runs on a push to main.

    GitHub's cache service (type=gha) exists only on its runners, and this engine's builder (the
    docker driver) exports no cache: those --set lines are left out (the tests check them).
    """
    options = step["with"]
    assert options["source"] == "."  # the checked-out files, not a Git context
    command = ["docker", "buildx", "bake"]
    for file in str(options.get("files", "")).split():
        command += ["--file", file]
    if options.get("load"):
        command.append("--load")
    if options.get("push"):
        command.append("--push")
    for line in str(options.get("set", "")).splitlines():
        if line and "type=gha" not in line:
            command += ["--set", line]
    return command + str(options.get("targets", "")).split()


def bake_definition(
    project: Path, environment: dict[str, str], *targets: str
) -> dict[str, dict[str, Any]]:
    """`docker buildx bake --print` of docker-bake.hcl: the targets as buildx resolves them."""
    result = subprocess.run(
        ["docker", "buildx", "bake", "--file", "docker-bake.hcl", "--print", *targets],
        cwd=project,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        check=True,
    )
    targets_found: dict[str, dict[str, Any]] = json.loads(result.stdout)["target"]
    return targets_found


def bake_build_options(target: dict[str, Any]) -> list[str]:
    """A bake target as `docker build` options, for builds that need what bake lacks here
    (buildx 0.13 has no `network`): the same target stage, secrets and build arguments."""
    options = ["--target", target["target"]]
    for secret in target.get("secret", []):
        options += ["--secret", secret]
    for name, value in target.get("args", {}).items():
        options += ["--build-arg", f"{name}={value}"]
    return options


# A shared library by its name (libssl.so.3, _ssl.cpython-313-x86_64-linux-gnu.so); any other
# ELF file with an execute bit is a program.
SHARED_LIBRARY = re.compile(r".*\.so(?:\.[\d.]+)?")


def elf_files(tag: str) -> dict[str, str]:
    """Every ELF file of the image (from `docker export`): "program" or "library", by path."""
    container = docker("create", tag).stdout.strip()
    found: dict[str, str] = {}
    try:
        with subprocess.Popen(["docker", "export", container], stdout=subprocess.PIPE) as export:
            assert export.stdout is not None
            with tarfile.open(fileobj=export.stdout, mode="r|") as archive:
                for info in archive:
                    content = archive.extractfile(info) if info.isfile() else None
                    if content is None or content.read(4) != b"\x7fELF":
                        continue
                    path = "/" + info.name.removeprefix("./")
                    if SHARED_LIBRARY.fullmatch(path):
                        found[path] = "library"
                    elif info.mode & 0o111:
                        found[path] = "program"
        assert export.returncode == 0, f"docker export {tag} failed"
        return found
    finally:
        docker("rm", "--force", container, check=False)
