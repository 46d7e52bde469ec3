"""`docker compose`: the stack comes up ready, dev mode reloads edits, `down -v` leaves nothing."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from .support import (
    COMBINATIONS,
    QUESTIONS,
    UV,
    answers,
    build_turn,
    docker,
    free_port,
    http_get,
    inspect,
    lock_in_python_image,
    private_copy,
    published_port,
    require_engine,
    running_container,
    unique_name,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SERVICE_SETS = ((), ("postgres",), ("redis",), ("postgres", "redis"))
DEV_FILES = ("compose.yaml", "compose.dev.yaml")
HEALTHY = ("running", "healthy")

Rendered = Callable[[str], Path]


def answer(name: str, question: str) -> Any:
    """A named combination's answer, or the question's default."""
    return answers(name).get(question, QUESTIONS[question]["default"])


def services_of(name: str) -> tuple[str, ...]:
    return tuple(sorted(answer(name, "services")))


def first_combination(question: str, value: object) -> str:
    """The first named combination that answers `question` with `value`."""
    matches = [name for name in COMBINATIONS if answer(name, question) == value]
    assert matches, f"no named combination has {question}={value!r}"
    return matches[0]


def first_with_services(services: tuple[str, ...]) -> str:
    matches = [name for name in COMBINATIONS if services_of(name) == services]
    assert matches, f"no named combination has services={list(services)}"
    return matches[0]


@dataclass
class Stack:
    """One compose project of a rendered service, under a unique project name and host port."""

    directory: Path
    files: tuple[str, ...]
    name: str
    port: int

    def compose(
        self, *arguments: str, check: bool = True, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        """`docker compose` on this stack; on failure raise with its output and the stack's logs."""
        options = [part for file in self.files for part in ("--file", file)]
        command = ["docker", "compose", "--project-name", self.name, *options, *arguments]
        with build_turn(command[1:]):
            result = subprocess.run(
                command,
                cwd=self.directory,
                env={**os.environ, "APP_PORT": str(self.port)},
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        if check and result.returncode != 0:
            logs = self.compose("logs", "--no-color", check=False).stdout
            raise AssertionError(
                f"`{' '.join(command)}` exited {result.returncode}\n--- stdout\n{result.stdout}\n"
                f"--- stderr\n{result.stderr}\n--- logs\n{logs[-6000:]}"
            )
        return result

    def states(self) -> dict[str, tuple[str, str]]:
        """Service name to (state, health) of its running containers."""
        lines = self.compose("ps", "--format", "json").stdout.splitlines()
        containers = [json.loads(line) for line in lines if line.strip()]
        return {item["Service"]: (item["State"], item["Health"]) for item in containers}

    def exec(self, *command: str) -> str:
        """Run a command in the app container; its stripped output."""
        return self.compose("exec", "--no-TTY", "app", *command).stdout.strip()

    def app_started_at(self) -> str:
        container = self.compose("ps", "--quiet", "app").stdout.strip()
        return docker("inspect", "--format", "{{.State.StartedAt}}", container).stdout.strip()


def leftovers(project_name: str) -> dict[str, list[str]]:
    """What Docker still holds for a compose project: containers, networks and volumes."""
    label = f"label=com.docker.compose.project={project_name}"
    return {
        kind: docker(*command, "--quiet", "--filter", label).stdout.split()
        for kind, command in {
            "containers": ("ps", "--all"),
            "networks": ("network", "ls"),
            "volumes": ("volume", "ls"),
        }.items()
    }


@contextmanager
def compose_stack(directory: Path, *files: str) -> Iterator[Stack]:
    """A stack whose app image has a unique tag; torn down with its volumes and image, always."""
    require_engine()
    name = unique_name("cus-compose")
    # Parallel tests must not share the compose file's fixed `<slug>:local` tag; the migrate
    # service runs the app's image.
    override = directory.parent / f"{name}.override.yaml"
    defined = yaml.safe_load((directory / "compose.yaml").read_text())["services"]
    image = {"image": f"{name}-app:test"}
    override.write_text(
        yaml.safe_dump({"services": {key: image for key in ("app", "migrate") if key in defined}})
    )
    stack = Stack(directory, (*files, str(override)), name, free_port())
    try:
        yield stack
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", check=False, timeout=300)
        docker("image", "rm", "--force", f"{name}-app:test", check=False)
        override.unlink()


def wait_for(port: int, path: str, expected: str, timeout: float = 60) -> tuple[int, str]:
    """Poll GET path until it answers 200 with `expected` in the body; the last answer otherwise."""
    deadline = time.monotonic() + timeout
    last: tuple[int, str] = (0, "")
    while time.monotonic() < deadline:
        try:
            last = http_get(port, path)
        except OSError as error:  # the server is restarting
            last = (0, repr(error))
        if last[0] == 200 and expected in last[1]:
            break
        time.sleep(0.5)
    return last


# ---------------------------------------------------------------- configuration


def test_named_combinations_cover_every_services_choice() -> None:
    assert {services_of(name) for name in COMBINATIONS} >= set(SERVICE_SETS)


@pytest.mark.parametrize("name", COMBINATIONS)
def test_compose_config_is_valid_and_wires_chosen_services(rendered: Rendered, name: str) -> None:
    require_engine()
    project = rendered(name)
    services = services_of(name)
    for files in (("compose.yaml",), DEV_FILES):
        stack = Stack(project, files, unique_name("cus-config"), free_port())
        stack.compose("config", "--quiet")
        config = json.loads(stack.compose("config", "--format", "json").stdout)
        migrate = {"migrate"} if "postgres" in services else set()
        assert set(config["services"]) == {"app", *services, *migrate}
        app = config["services"]["app"]
        assert sorted(app.get("depends_on", {})) == sorted({*services, *migrate})
        if migrate:
            assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
            assert config["services"]["migrate"]["image"] == app["image"], "the app's image"
        assert [port["host_ip"] for port in app["ports"]] == ["127.0.0.1"], "loopback only"
        assert app["ports"][0]["published"] == str(stack.port), "APP_PORT picks the host port"
        # The hardening the image is tested under, for every container of the app's image.
        for service in ("app", *migrate):
            hardened = config["services"][service]
            assert hardened["read_only"] is True, service
            assert hardened["cap_drop"] == ["ALL"], service
            assert hardened["security_opt"] == ["no-new-privileges:true"], service
            assert list(hardened["tmpfs"]) == ["/tmp"], service


# ---------------------------------------------------------------- up, ready, down


@pytest.mark.parametrize("services", SERVICE_SETS, ids=lambda chosen: "+".join(chosen) or "none")
def test_compose_up_is_ready_with_every_chosen_service_and_down_leaves_nothing(
    rendered: Rendered, tmp_path: Path, services: tuple[str, ...]
) -> None:
    project = tmp_path / "service"
    private_copy(rendered(first_with_services(services)), project)
    lock_in_python_image(project, UV)
    with compose_stack(project, "compose.yaml") as stack:
        stack.compose("up", "--build", "--wait", "--wait-timeout", "180")
        assert stack.states() == dict.fromkeys(("app", *services), HEALTHY)
        status, body = http_get(stack.port, "/ready")
        assert status == 200, body
        assert json.loads(body) == {"status": "ok", "checks": dict.fromkeys(services, "ok")}
        # Healthy under compose's hardening keys, as the engine applied them.
        host = inspect(stack.compose("ps", "--quiet", "app").stdout.strip())["HostConfig"]
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        assert host["SecurityOpt"] == ["no-new-privileges:true"]
        assert list(host["Tmpfs"]) == ["/tmp"]

        held = leftovers(stack.name)
        # The app, each backing service, and the exited migrate container with PostgreSQL.
        assert len(held["containers"]) == 1 + len(services) + ("postgres" in services), held
        assert held["networks"], held
        assert bool(held["volumes"]) == ("postgres" in services), held
        stack.compose("down", "--volumes", "--remove-orphans")
        assert leftovers(stack.name) == {"containers": [], "networks": [], "volumes": []}


# ---------------------------------------------------------------- migrations


def test_migrations_run_once_before_every_replica_and_are_reversible(
    rendered: Rendered, tmp_path: Path
) -> None:
    name = first_with_services(("postgres",))
    project = tmp_path / "service"
    private_copy(rendered(name), project)
    lock_in_python_image(project, UV)
    package = yaml.safe_load((project / ".copier-answers.yml").read_text())["package_name"]
    # Three replicas cannot share one host port: this stack publishes none.
    unpublished = tmp_path / "no-ports.yaml"
    unpublished.write_text("services:\n  app:\n    ports: !reset []\n")
    migrations = ("python", "-m", f"{package}.migrations")

    def sql(query: str) -> str:
        psql = ("exec", "--no-TTY", "postgres", "psql", "--username", "app", "--dbname", "app")
        return stack.compose(*psql, "--tuples-only", "--no-align", "--command", query).stdout

    def tables() -> list[str]:
        return sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").split()

    with compose_stack(project, "compose.yaml", str(unpublished)) as stack:
        stack.compose("up", "--build", "--wait", "--wait-timeout", "180", "--scale", "app=3")
        states = stack.compose("ps", "--all", "--format", "{{.Service}} {{.State}} {{.Health}}")
        assert sorted(states.stdout.splitlines()) == [
            *["app running healthy"] * 3,
            "migrate exited ",
            "postgres running healthy",
        ]
        logs = stack.compose("logs", "--no-color", "migrate").stdout
        assert logs.count("Running upgrade  -> 0001") == 1, logs
        assert sorted(tables()) == ["alembic_version", "items"]
        assert sql("SELECT version_num FROM alembic_version").split() == ["0001"]
        ready = (
            "import urllib.request as u; print(u.urlopen('http://127.0.0.1:{port}/ready').read())"
        )
        port = answer(name, "port")
        for index in ("1", "2", "3"):
            probe = ("exec", "--no-TTY", "--index", index, "app", "python", "-c")
            reply = stack.compose(*probe, ready.format(port=port)).stdout
            assert '"status":"ok"' in reply, f"replica {index}: {reply}"

        # Again: nothing to do. Then the initial revision's downgrade, and back.
        run_once = ("run", "--rm", "--no-deps", "migrate")
        again = stack.compose(*run_once, *migrations, "upgrade", "head")
        assert "Running upgrade" not in again.stdout + again.stderr
        assert sql("SELECT version_num FROM alembic_version").split() == ["0001"]
        stack.compose(*run_once, *migrations, "downgrade", "base")
        assert tables() == ["alembic_version"]
        assert sql("SELECT count(*) FROM alembic_version").split() == ["0"]
        stack.compose(*run_once, *migrations, "upgrade", "head")
        assert sorted(tables()) == ["alembic_version", "items"]


def test_ci_migration_job_passes_on_a_fresh_postgresql(rendered: Rendered) -> None:
    """The rendered CI's migrations job, step by step: upgrade, no drift, downgrade."""
    require_engine()
    name = first_with_services(("postgres",))
    project = rendered(name)
    if not (project / "uv.lock").exists():
        pytest.skip(f"{name}: no local interpreter of its Python to lock with")
    job = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())["jobs"]["migrations"]
    commands = [step["run"] for step in job["steps"] if "run" in step]
    assert commands[0] == "uv sync --locked"
    assert [command.split()[-2:] for command in commands[1:]] == [
        ["upgrade", "head"],
        ["alembic", "check"],
        ["downgrade", "base"],
    ]
    database = job["services"]["postgres"]["env"]
    options = [f"--env={key}={value}" for key, value in database.items()]
    with running_container("postgres:17", *options, "--publish", "127.0.0.1::5432") as container:
        deadline = time.monotonic() + 60
        ready = ("exec", container, "pg_isready", "--host", "127.0.0.1")
        while docker(*ready, check=False).returncode:
            assert time.monotonic() < deadline, "PostgreSQL never became ready"
            time.sleep(0.5)
        port = published_port(container, 5432)
        url = job["env"]["DATABASE_URL"].replace("localhost:5432", f"127.0.0.1:{port}")
        environment = {**os.environ, "DATABASE_URL": url}
        for command in commands:
            result = subprocess.run(
                ["sh", "-c", command.replace("uv ", f"{UV} ", 1)],
                cwd=project,
                env=environment,
                capture_output=True,
                text=True,
                check=False,
            )
            assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"


# ---------------------------------------------------------------- dev mode

ROUTE = """
    @app.get("/reloaded")
    async def reloaded() -> dict[str, str]:
        return {{"token": "{token}"}}

    return app
"""


@pytest.mark.parametrize("venv_path", list(QUESTIONS["venv_path"]["choices"].values()))
def test_dev_mode_reloads_edited_source_and_keeps_the_image_venv(
    rendered: Rendered, tmp_path: Path, venv_path: str
) -> None:
    name = first_combination("venv_path", venv_path)
    project = tmp_path / "service"
    private_copy(rendered(name), project)
    lock_in_python_image(project, UV)
    # A host venv beside src/ must never reach the container (where `.:/app` would put it),
    # wherever the image keeps its own.
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "HOST-VENV").touch()
    package = yaml.safe_load((project / ".copier-answers.yml").read_text())["package_name"]
    app_py = project / "src" / package / "app.py"
    assert app_py.read_text().count("\n    return app\n") == 1, "app.py changed shape: update ROUTE"
    where = f"import sys, os, {package}; print(sys.prefix, {package}.__file__, "
    where += "os.path.exists('/app/.venv/HOST-VENV'))"

    with compose_stack(project, *DEV_FILES) as stack:
        stack.compose("up", "--build", "--wait", "--wait-timeout", "180")
        services = services_of(name)
        assert stack.states() == dict.fromkeys(("app", *services), HEALTHY)
        assert stack.exec("python", "-c", where).split() == [
            venv_path,  # the image's venv runs the server...
            f"/app/src/{package}/__init__.py",  # ...with the package from the mounted source
            "False",  # and the host's .venv is nowhere in the container
        ]
        uid = stack.exec("id", "-u")
        assert uid == str(QUESTIONS["app_uid"]["default"]), "dev runs as the runtime image's uid"
        assert int(uid) != app_py.stat().st_uid, "the container reads sources it does not own"
        assert http_get(stack.port, "/reloaded")[0] == 404

        started = stack.app_started_at()
        token = uuid.uuid4().hex
        edited = app_py.read_text().replace("\n    return app\n", ROUTE.format(token=token))
        app_py.write_text(edited)
        status, body = wait_for(stack.port, "/reloaded", token)
        logs = stack.compose("logs", "app").stdout
        assert status == 200, f"the edit never showed: {body}\n{logs}"
        assert json.loads(body) == {"token": token}
        status, body = http_get(stack.port, "/health")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        assert http_get(stack.port, "/ready")[0] == 200
        assert stack.app_started_at() == started, "uvicorn reloads in place, not by a restart"
        assert "WatchFiles detected changes" in logs
