"""`docker build` a rendered service and run it: healthy, hardened, lean, stops cleanly.

Each variant is rendered and built once (module-scoped fixtures); every check then reads
or runs that image. The variants cover each python_source x venv_path x debian_release
combination, both entrypoints on each source and venv path, and every Python version; the
distroless runtime on both releases, both venv paths and both entrypoints. A distroless image
has no shell or coreutils, so the checks run their probes with the image's own Python.
"""

from __future__ import annotations

import json
import re
import shutil
import tarfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from .support import (
    COMPILER,
    QUESTIONS,
    UV,
    Answers,
    answers,
    docker,
    elf_files,
    http_get,
    http_request,
    image_files,
    inspect,
    lock_in_python_image,
    published_port,
    render_into,
    require_engine,
    running_container,
    skip_unless_uv_can_install,
    wait_healthy,
)
from .support.answers import names

pytestmark = [pytest.mark.docker, pytest.mark.slow]

VARIANTS: dict[str, Answers] = {name: answers(name) for name in names("image")}


def applies_to(question: str, *values: Any) -> pytest.MarkDecorator:
    """A check that only some variants can have runs on those whose answer to `question` is
    one of `values`, and is not collected for the others: a skip means an image is missing."""
    default = QUESTIONS[question]["default"]
    chosen = [name for name, given in VARIANTS.items() if given.get(question, default) in values]
    return pytest.mark.parametrize("image", chosen, indirect=True)


HARDENED = (
    *("--read-only", "--tmpfs", "/tmp"),
    *("--cap-drop", "ALL", "--security-opt", "no-new-privileges"),
)
DEPENDENCY_STEP = "--no-install-project"
# OpenSSL's built-in CA file or hashed CA directory, not $SSL_CERT_FILE (a base image's setting).
TRUST_STORE_PROBE = """
import os, re, ssl
paths = ssl.get_default_verify_paths()
capath = paths.openssl_capath
names = os.listdir(capath) if os.path.isdir(capath) else []
hashed = any(re.fullmatch(r"[0-9a-f]{8}\\.\\d+", name) for name in names)
print(os.path.isfile(paths.openssl_cafile) or hashed)
"""
STOP_SECONDS = 2.0
DISTROLESS_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# What the runtime's interpreter leaves out (under /opt/python/<build>/): a service never runs
# pip, IDLE, Tk, the test suites or a compiler against headers and static libraries.
TRIMMED = re.compile(
    r"/opt/python/[^/]+/(?:include|share|lib/pkgconfig|lib/[^/]+\.a|bin/(?:idle|pip|pydoc|2to3)"
    r"|lib/python3\.\d+/(?:ensurepip|idlelib|tkinter|turtledemo|test|lib2to3|__phello__"
    r"|pydoc_data|config-|site-packages/."
    r"|lib-dynload/(?:_test|_ctypes_test|xxlimited|_xxtestfuzz|_tkinter)))"
    r".*"
)
# Imports each extension module the interpreter kept: none may miss a library trimmed away.
EXTENSIONS_PROBE = """
import importlib, pathlib, sysconfig
for path in sorted(pathlib.Path(sysconfig.get_path("platstdlib"), "lib-dynload").glob("*.so")):
    try:
        importlib.import_module(path.name.split(".")[0])
    except ImportError as error:
        print(path.name, error)
"""
SHELLS = {"sh", "bash", "dash", "ash", "busybox"}
PACKAGE_MANAGERS = ("apt", "dpkg")
# Imports what the server imports at start, then names every module loaded from a .py
# file without bytecode: the app user cannot write __pycache__, so each is compiled again at
# every start and in every health probe.
UNCOMPILED_PROBE = """
import importlib.util, os, sys
import uvicorn, {package}.healthcheck
uvicorn.Config("{package}.app:create_app", factory=True).load()
for module in list(sys.modules.values()):
    source = getattr(module, "__file__", None) or ""
    if source.endswith(".py") and not os.path.exists(importlib.util.cache_from_source(source)):
        print(module.__name__)
"""
# Names the venv's ELF shared objects (64-bit little-endian, as on amd64 and arm64), each with
# whether it has .debug_* sections.
DEBUG_INFO_PROBE = """
import pathlib, struct, sys
def debug_sections(data):
    shoff, = struct.unpack_from("<Q", data, 0x28)
    size, count, names = struct.unpack_from("<3H", data, 0x3A)
    headers = [struct.unpack_from("<I20xQQ", data, shoff + size * i) for i in range(count)]
    table = data[headers[names][1]:][:headers[names][2]]
    return [n for n, _, _ in headers if table[n:].startswith(b".debug_")]
for path in pathlib.Path(sys.prefix).rglob("*.so"):
    data = path.read_bytes()
    if data[:6] == b"\\x7fELF\\x02\\x01":
        print(path, bool(debug_sections(data)))
"""


@dataclass(frozen=True)
class Image:
    """A built variant: its tag, rendered project, answers and files (a tar listing)."""

    tag: str
    project: Path
    answers: dict[str, Any]
    clutter_token: str
    files: dict[str, tarfile.TarInfo] = field(repr=False)

    @property
    def port(self) -> int:
        return int(self.answers["port"])

    @property
    def venv(self) -> str:
        return str(self.answers["venv_path"])

    @property
    def uv_run(self) -> bool:
        return bool(self.answers["entrypoint"] == "uv-run")

    @property
    def distroless(self) -> bool:
        return bool(self.answers["runtime_base"] == "distroless")

    def executables(self) -> list[str]:
        """Paths of regular files and symlinks with an execute bit."""
        return [
            path
            for path, info in self.files.items()
            if (info.isfile() or info.issym()) and info.mode & 0o111
        ]

    def dockerfile_user(self) -> str:
        dockerfile = (self.project / "Dockerfile").read_text()
        users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
        assert users, "the Dockerfile declares no USER"
        return str(users[-1])


def build(context: Path, tag: str) -> str:
    """`docker build` as a user runs it (no --pull, the Dockerfile as rendered); the plain log."""
    result = docker("build", "--progress=plain", "--tag", tag, ".", cwd=context)
    return result.stderr + result.stdout


def build_steps(log: str) -> list[tuple[str, bool]]:
    """The steps of a BuildKit plain-progress log: (instruction, cached)."""
    cached = set(re.findall(r"^#(\d+) CACHED$", log, re.MULTILINE))
    steps: dict[str, str] = {}
    for step, instruction in re.findall(r"^#(\d+) \[[^\]]+\] (.+)$", log, re.MULTILINE):
        steps.setdefault(step, instruction)
    return [(instruction, step in cached) for step, instruction in steps.items()]


def add_clutter(project: Path, package: str, token: str) -> None:
    """What a developer's checkout holds besides the sources: none of it may reach the image."""
    for folder in (".venv", ".git", ".pytest_cache"):
        (project / folder).mkdir(exist_ok=True)
        (project / folder / token).write_text(token)
    (project / "src" / package / "__pycache__").mkdir()
    (project / "src" / package / "__pycache__" / f"{token}.cpython-313.pyc").write_text(token)
    (project / ".env").write_text(f"SECRET_KEY={token}\n")


def exec_in(container: str, *command: str) -> str:
    return docker("exec", container, *command).stdout.strip()


def python_in(container: str, code: str, *arguments: str) -> str:
    """Run Python code in the container: every image has Python, not every one a shell."""
    return exec_in(container, "python", "-c", code, *arguments)


IDS = "import os; print(os.getuid(), os.getgid())"


@pytest.fixture(scope="module", params=list(VARIANTS))
def image(
    request: pytest.FixtureRequest,
    copier_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    isolated_tools: dict[str, str],
) -> Iterator[Image]:
    """Render the variant, clutter its checkout, build it once; removed after the module."""
    require_engine()
    name = str(request.param)
    destination = tmp_path_factory.mktemp("image") / name
    project = render_into(copier_template, destination, VARIANTS[name])
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    if answers["python_source"] == "uv-managed":
        skip_unless_uv_can_install(answers["python_version"], answers["debian_release"])
    lock_in_python_image(project, UV)
    token = f"clutter-{uuid.uuid4().hex}"
    add_clutter(project, answers["package_name"], token)
    tag = f"cus-image-{name}:{uuid.uuid4().hex[:10]}"
    try:
        build(project, tag)
        yield Image(tag, project, answers, token, image_files(tag))
    finally:
        docker("image", "rm", "--force", tag, check=False)


@pytest.fixture(scope="module")
def served(image: Image) -> Iterator[str]:
    """The image started as `docker run` starts it, its port published on loopback."""
    with running_container(image.tag, "--publish", f"127.0.0.1::{image.port}") as name:
        wait_healthy(name)
        yield name


def test_dockerfile_builds_as_rendered(image: Image) -> None:
    dockerfile = (image.project / "Dockerfile").read_text()
    syntax = re.search(r"^#\s*syntax\s*=", dockerfile, re.MULTILINE)
    assert syntax is None, "a syntax directive makes BuildKit pull a frontend image"
    assert inspect(image.tag)["Config"]["Cmd"], "the built image has no command"


def test_image_is_healthy_and_serves_health_and_ready(image: Image, served: str) -> None:
    port = published_port(served, image.port)
    status, body = http_get(port, "/health")
    assert status == 200, body
    assert json.loads(body) == {"status": "ok"}
    status, body = http_get(port, "/ready")
    assert status == 200, body
    assert json.loads(body) == {"status": "ok", "checks": {}}


def test_image_runs_as_the_dockerfile_non_root_user(image: Image, served: str) -> None:
    user = image.dockerfile_user()
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), f"USER {user}: not a numeric uid"
    assert int(uid) != 0, f"USER {user}: root"
    assert inspect(image.tag)["Config"]["User"] == user
    assert python_in(served, IDS) == f"{uid} {gid or uid}"
    # Named, in distroless too (no useradd there): whoami, ps and getpass.getuser() work.
    name = "import os, pwd, grp; print(pwd.getpwuid(os.getuid())[0], grp.getgrgid(os.getgid())[0])"
    assert python_in(served, name) == "app app"


def test_image_contains_no_compiler(image: Image) -> None:
    assert [path for path in image.executables() if COMPILER.fullmatch(path)] == []


def test_image_contains_uv_only_for_uv_run(image: Image) -> None:
    uv = [path for path in image.executables() if Path(path).name in {"uv", "uvx"}]
    if image.uv_run:
        assert "/usr/local/bin/uv" in uv, "uv run needs uv in the image"
    else:
        assert uv == [], "the venv entrypoint needs no uv in the runtime image"


def test_venv_python_resolves_after_the_multi_stage_copy(image: Image, served: str) -> None:
    python = f"{image.venv}/bin/python"
    target = python_in(served, "import os, sys; print(os.path.realpath(sys.argv[1]))", python)
    assert target in image.files, f"{python} resolves to {target}, which is not in the image"
    assert exec_in(served, target, "-c", "print('runs')") == "runs"
    probe = "import sys; print(sys.prefix, sys.base_prefix, '%d.%d' % sys.version_info[:2])"
    prefix, base_prefix, version = exec_in(served, python, "-c", probe).split()
    assert prefix == image.venv
    assert version == image.answers["python_version"]
    if image.answers["python_source"] == "uv-managed":
        assert target.startswith("/opt/python/"), target
        assert base_prefix.startswith("/opt/python/"), base_prefix
    else:
        assert not target.startswith("/opt/python/"), target


def test_python_dash_m_package_starts_the_server_too(image: Image) -> None:
    """`python -m <package>`, the other start path __main__ names, serves in the image."""
    command = ("python", "-m", image.answers["package_name"])
    publish = ("--publish", f"127.0.0.1::{image.port}")
    with running_container(image.tag, *HARDENED, *publish, command=command) as name:
        wait_healthy(name)
        assert http_get(published_port(name, image.port), "/health")[0] == 200
        started = python_in(name, "print(*open('/proc/1/cmdline').read().split(chr(0)))").split()
    assert started[-3:] == ["python", "-m", image.answers["package_name"]], started


def test_image_has_a_ca_trust_store_for_tls_clients(image: Image, served: str) -> None:
    if not image.distroless:
        assert python_in(served, TRUST_STORE_PROBE) == "True"
        return
    # distroless has the bundle only, which SSL_CERT_FILE names: the Dockerfile says so itself,
    # so a mirror's image config cannot drop it.
    dockerfile = (image.project / "Dockerfile").read_text()
    assert f"SSL_CERT_FILE={DISTROLESS_CA_BUNDLE}" in dockerfile
    assert image.files[DISTROLESS_CA_BUNDLE].isfile()
    loaded = "import ssl; print(ssl.create_default_context().cert_store_stats()['x509_ca'])"
    assert int(python_in(served, loaded)) > 100


def test_image_is_healthy_without_network(image: Image) -> None:
    with running_container(image.tag, "--network", "none") as name:
        wait_healthy(name)
        interfaces = exec_in(name, "python", "-c", "import socket; print(socket.if_nameindex())")
        assert interfaces == "[(1, 'lo')]"
        reach = "import socket; socket.create_connection(('192.0.2.1', 443), timeout=3)"
        result = docker("exec", name, "python", "-c", reach, check=False)
        assert "Network is unreachable" in result.stderr, result.stderr


def test_image_is_healthy_read_only_without_capabilities(image: Image) -> None:
    with running_container(image.tag, *HARDENED, "--publish", f"127.0.0.1::{image.port}") as name:
        wait_healthy(name)
        assert http_get(published_port(name, image.port), "/health")[0] == 200
        assert inspect(name)["HostConfig"]["ReadonlyRootfs"] is True


def test_image_is_healthy_as_an_arbitrary_uid_in_group_0(image: Image) -> None:
    # OpenShift runs an image as a uid of its own choosing, in group 0.
    arbitrary = ("--user", "12345:0", *HARDENED, "--publish", f"127.0.0.1::{image.port}")
    with running_container(image.tag, *arbitrary) as name:
        wait_healthy(name)
        assert http_get(published_port(name, image.port), "/ready")[0] == 200
        assert python_in(name, IDS) == "12345 0"


SAMPLE = re.compile(r"(\w+)(?:\{(.*)\})? (\S+)")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """GET /metrics, parsed: (name, labels) -> value."""
    status, body = http_get(port, "/metrics")
    assert status == 200, body
    samples = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            match = SAMPLE.fullmatch(line)
            assert match, line
            labels = frozenset(LABEL.findall(match[2] or ""))
            samples[match[1], labels] = float(match[3])
    return samples


@applies_to("metrics", True)
def test_metrics_sum_every_worker_under_a_read_only_root(image: Image) -> None:
    requests, route = 60, {("method", "GET"), ("route", "/openapi.json"), ("status", "200")}
    counter = ("http_requests_total", frozenset(route))
    count = ("http_request_duration_seconds_count", frozenset(route))
    workers = ("--env", "WEB_CONCURRENCY=2", "--publish", f"127.0.0.1::{image.port}")
    with running_container(image.tag, *HARDENED, *workers) as name:
        wait_healthy(name)
        port = published_port(name, image.port)
        before = scrape(port)
        with ThreadPoolExecutor(8) as pool:  # concurrent, so that both workers answer
            statuses = list(pool.map(lambda _: http_get(port, "/openapi.json")[0], range(requests)))
        after = scrape(port)
        files = python_in(name, "import os; print(*os.listdir('/tmp/prometheus'))").split()
        assert inspect(name)["HostConfig"]["ReadonlyRootfs"] is True
    assert statuses == [200] * requests
    assert after[counter] - before.get(counter, 0) == requests
    assert after[count] == after[counter]
    # Each worker writes its own files: two of them served, and one scrape summed both.
    assert len([file for file in files if file.startswith("counter_")]) == 2, files
    buckets = sorted(
        (float(dict(labels)["le"]), value)
        for (sample, labels), value in after.items()
        if sample == "http_request_duration_seconds_bucket" and route <= labels
    )
    assert buckets[-1] == (float("inf"), after[counter])
    assert [value for _, value in buckets] == sorted(value for _, value in buckets)
    scrapes = [key for key in after if ("route", "/metrics") in key[1]]
    assert scrapes == [], "scrapes of /metrics are counted"


def log_entries(name: str) -> list[dict[str, Any]]:
    """Every line the container wrote, each parsed as one JSON object."""
    output = docker("logs", name)
    entries = []
    for line in (output.stdout + output.stderr).splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}")
        assert isinstance(entry, dict), line
        entries.append(entry)
    return entries


def test_logs_are_json_lines_with_request_ids(image: Image) -> None:
    publish = ("--publish", f"127.0.0.1::{image.port}")
    with running_container(image.tag, *HARDENED, *publish) as name:
        wait_healthy(name)  # the HEALTHCHECK probed /health successfully
        port = published_port(name, image.port)
        assert http_get(port, "/ready")[0] == 200
        given = f"test-{uuid.uuid4().hex[:12]}"
        status, headers, _ = http_request(port, "/openapi.json", headers={"X-Request-ID": given})
        assert (status, headers["x-request-id"]) == (200, given)
        status, headers, _ = http_request(port, "/missing", headers={"X-Request-ID": "a b"})
        missing = headers["x-request-id"]
        assert status == 404
        assert re.fullmatch(r"[0-9a-f]{32}", missing), missing
        status, headers, _ = http_request(port, "/health", method="POST")
        refused = headers["x-request-id"]
        assert (status, len(refused)) == (405, 32)
        docker("stop", name)
        entries = log_entries(name)
    for entry in entries:
        assert {"timestamp", "level", "logger", "message"} <= entry.keys(), entry
        assert datetime.fromisoformat(entry["timestamp"]).utcoffset() == timedelta(0), entry
    by_id = {entry.get("request_id"): entry["message"] for entry in entries}
    assert '"GET /openapi.json HTTP/1.1" 200' in by_id[given]
    assert '"GET /missing HTTP/1.1" 404' in by_id[missing]
    assert '"POST /health HTTP/1.1" 405' in by_id[refused]
    messages = [entry["message"] for entry in entries]
    assert any("Started server process" in message for message in messages), messages
    assert any("Finished server process" in message for message in messages), messages
    probes = [m for m in messages if re.search(r'"GET /(health|ready) HTTP/1.1" 200', m)]
    assert probes == [], "successful probes are logged at info"


def test_an_unhandled_error_is_one_json_line_with_its_traceback(image: Image) -> None:
    publish = ("--publish", f"127.0.0.1::{image.port}")
    with running_container(image.tag, *HARDENED, *publish, command=owner_routes(image)) as name:
        wait_healthy(name)
        port = published_port(name, image.port)
        status, headers, _ = http_request(port, "/fail", headers={"X-Request-ID": "fail-1"})
        assert (status, headers["x-request-id"]) == (500, "fail-1")
        docker("stop", name)  # the server logs the error after it answered: wait for the line
        entries = log_entries(name)
    errors = [entry for entry in entries if entry["level"] == "ERROR"]
    assert [entry.get("request_id") for entry in errors] == ["fail-1"], errors
    assert "RuntimeError: an owner's bug" in errors[0]["exception"]
    assert errors[0]["exception"].startswith("Traceback")


def stop(name: str) -> tuple[float, int, str]:
    """`docker stop`: the seconds it took, the container's exit code and everything it wrote."""
    started = time.monotonic()
    docker("stop", name)
    elapsed = time.monotonic() - started
    output = docker("logs", name)
    return elapsed, inspect(name)["State"]["ExitCode"], output.stdout + output.stderr


def test_docker_stop_ends_the_server_by_sigterm_promptly(image: Image) -> None:
    with running_container(image.tag) as name:
        wait_healthy(name)
        elapsed, exit_code, logs = stop(name)
        assert exit_code == 0, f"exit code {exit_code}\n{logs}"
        assert elapsed < STOP_SECONDS, f"docker stop took {elapsed:.1f}s: SIGKILL after a timeout?"
        assert "Finished server process" in logs, logs


# Seconds after `docker run` returns at which a stop comes: while dumb-init starts the server (and,
# for uv run, uv starts Python), while Python imports, while uvicorn starts.
STOP_MOMENTS = (0.0, 0.05, 0.15, 0.3, 0.6)


def test_init_is_dumb_init_passing_signals_on(image: Image) -> None:
    assert inspect(image.tag)["Config"]["Entrypoint"] == ["dumb-init", "--single-child", "--"]


def test_docker_stop_during_start_up_is_prompt_and_clean(image: Image) -> None:
    # PID 1 ignores a signal it has no handler for, and a server loses a SIGTERM that comes
    # between its handlers: wherever in start-up the stop comes, it must not wait for SIGKILL.
    for moment in STOP_MOMENTS:
        with running_container(image.tag) as name:
            time.sleep(moment)
            health = inspect(name)["State"]["Health"]["Status"]
            elapsed, exit_code, logs = stop(name)
            assert health == "starting", f"stop at {moment}s came too late"
            # 143 (killed by SIGTERM) only if Python was stopped before it could handle it.
            assert exit_code == 0 or (exit_code == 143 and not logs), (
                f"stop at {moment}s: exit code {exit_code}\n{logs}"
            )
            assert elapsed < STOP_SECONDS, f"stop at {moment}s took {elapsed:.1f}s: SIGKILL?"


# The image's own server with routes added, as an owner's slow or failing endpoint would be.
OWNER_ROUTES = """
import asyncio
from {package} import __main__, app

create_app = app.create_app


def with_owner_routes():
    application = create_app()

    @application.get("/slow")
    async def slow(seconds: float) -> dict[str, float]:
        print("slow: started", flush=True)
        await asyncio.sleep(seconds)
        return {{"slept": seconds}}

    @application.get("/fail")
    async def fail() -> None:
        raise RuntimeError("an owner's bug")

    return application


app.create_app = with_owner_routes
__main__.main()
"""


def owner_routes(image: Image) -> tuple[str, ...]:
    """The command that serves the image's app with OWNER_ROUTES."""
    return ("python", "-c", OWNER_ROUTES.format(package=image.answers["package_name"]))


def test_docker_stop_drains_the_requests_in_flight(image: Image) -> None:
    publish = ("--publish", f"127.0.0.1::{image.port}")
    with running_container(image.tag, *publish, command=owner_routes(image)) as name:
        wait_healthy(name)
        port = published_port(name, image.port)
        assert http_get(port, "/ready")[0] == 200
        with ThreadPoolExecutor(max_workers=2) as pool:
            slow = pool.submit(http_get, port, "/slow?seconds=3", 15)
            # Stop once the server has had the request for a second (a loaded machine can take
            # seconds to pass it on): SIGTERM then falls in the middle of it.
            until = time.monotonic() + 15
            while "slow: started" not in docker("logs", name).stdout and time.monotonic() < until:
                time.sleep(0.05)
            time.sleep(1)
            started = time.monotonic()
            stop = pool.submit(docker, "stop", name)
            ready: list[tuple[int, str]] = []
            while time.monotonic() < started + 2 and not slow.done():
                ready.append(http_get(port, "/ready"))
                if ready[-1][0] == 503:
                    break
                time.sleep(0.05)
            try:
                answer: object = slow.result()
            except OSError as error:  # the connection cut: say what the server logged
                answer = error
            stop.result()
            elapsed = time.monotonic() - started
            logs = docker("logs", name).stdout
            if isinstance(answer, OSError):
                # Docker's port-publishing proxy can drop a response the server sent just before it
                # exited (seen on a loaded machine): then the server's log must show it was sent.
                sent = logs.find('"GET /slow?seconds=3 HTTP/1.1\\" 200')
                assert -1 < sent < logs.find('"Shutting down"'), f"{answer!r}\n{logs}"
            else:
                assert answer == (200, '{"slept":3.0}'), logs
        exit_code = inspect(name)["State"]["ExitCode"]
    assert (503, '{"status":"stopping","checks":{}}') in ready, ready
    assert 1.5 < elapsed < 10, f"docker stop took {elapsed:.1f}s"
    assert exit_code == 0


def test_every_module_the_server_imports_has_bytecode(image: Image) -> None:
    probe = UNCOMPILED_PROBE.format(package=image.answers["package_name"])
    result = docker("run", "--rm", "--entrypoint", "python", image.tag, "-c", probe)
    assert result.stdout.split() == [], "compiled at every start, as the app user cannot cache"


def test_compiled_extensions_carry_no_debug_info(image: Image) -> None:
    listing = docker("run", "--rm", "--entrypoint", "python", image.tag, "-c", DEBUG_INFO_PROBE)
    extensions = dict(line.rsplit(" ", 1) for line in listing.stdout.splitlines())
    assert any("/uvloop/" in path for path in extensions), "uvloop's extension was not found"
    with_debug_info = [path for path, debug in extensions.items() if debug == "True"]
    if image.answers["strip_debug_info"]:
        assert with_debug_info == []
    else:  # uvloop's wheel ships its debug info
        assert [path for path in with_debug_info if "/uvloop/" in path]


def test_build_context_clutter_stays_out_of_the_image(image: Image) -> None:
    package = image.answers["package_name"]
    installed = [path for path in image.files if path.endswith(f"/site-packages/{package}/app.py")]
    assert installed, "the listing does not even show the installed package"
    token = image.clutter_token
    assert [path for path in image.files if token in path or path.endswith("/.env")] == []


def test_source_change_rebuild_reuses_the_dependency_layer(image: Image, tmp_path: Path) -> None:
    context = tmp_path / "context"
    shutil.copytree(image.project, context, symlinks=True)
    package = image.answers["package_name"]
    before, edited = (f"{image.tag.split(':')[0]}:{uuid.uuid4().hex[:10]}" for _ in range(2))
    try:
        for _attempt in range(3):
            # Build just before the edit too: the cache is then the developer's last build.
            build(context, before)
            marker = f"# edited {uuid.uuid4().hex}\n"
            with (context / "src" / package / "app.py").open("a") as source:
                source.write(marker)
            log = build(context, edited)
            # COPY --from=uv does not depend on the sources: if even it re-ran, the engine's
            # build-cache GC evicted the cache between the two builds. Measure again.
            if all(cached for command, cached in build_steps(log) if "COPY --from=uv" in command):
                break
        syncs = [step for step in build_steps(log) if "uv sync" in step[0]]
        dependencies = [cached for command, cached in syncs if DEPENDENCY_STEP in command]
        project = [cached for command, cached in syncs if DEPENDENCY_STEP not in command]
        assert dependencies == [True], f"the dependency layer was not reused\n{log}"
        assert project == [False], f"the project layer was not rebuilt\n{log}"
        site_packages = f"{image.venv}/lib/python{image.answers['python_version']}/site-packages"
        app = f"{site_packages}/{package}/app.py"
        last_line = "import sys; print(open(sys.argv[1]).readlines()[-1], end='')"
        installed = docker("run", "--rm", "--entrypoint", "python", edited, "-c", last_line, app)
        assert installed.stdout == marker
        # The runtime shares every layer but the project's: a release ships only that one.
        layers = [inspect(tag)["RootFS"]["Layers"] for tag in (before, edited)]
        assert len(layers[0]) == len(layers[1])
        assert len([new for old, new in zip(*layers, strict=True) if old != new]) == 1
    finally:
        docker("image", "rm", "--force", before, edited, check=False)


def test_image_has_oci_labels(image: Image) -> None:
    labels = inspect(image.tag)["Config"]["Labels"] or {}
    license = image.answers["license"]
    spdx = "LicenseRef-Proprietary" if license == "Proprietary" else license
    assert labels.get("org.opencontainers.image.title") == image.answers["project_slug"]
    assert labels.get("org.opencontainers.image.description") == image.answers["description"]
    assert image.answers["author_email"] in labels.get("org.opencontainers.image.authors", "")
    assert labels.get("org.opencontainers.image.licenses") == spdx


def test_healthcheck_is_exec_form_python(image: Image) -> None:
    test = inspect(image.tag)["Config"]["Healthcheck"]["Test"]
    assert test[0] == "CMD", f"{test}: not exec form"
    assert Path(test[1]).name.startswith("python"), test
    assert not {"curl", "wget", "sh", "bash"} & {Path(part).name for part in test}, test


# python:slim's interpreter is Debian's build, untrimmed.
@applies_to("python_source", "uv-managed")
def test_uv_managed_interpreter_is_trimmed(image: Image) -> None:
    assert any(path.startswith("/opt/python/") for path in image.files), "no /opt/python"
    assert [path for path in image.files if TRIMMED.fullmatch(path)] == []


@applies_to("python_source", "uv-managed")
def test_every_extension_module_of_the_interpreter_imports(image: Image) -> None:
    result = docker("run", "--rm", "--entrypoint", "python", image.tag, "-c", EXTENSIONS_PROBE)
    assert result.stdout.splitlines() == [], "extension modules lost their libraries"


# A slim runtime keeps Debian's shell and apt.
@applies_to("runtime_base", "distroless")
def test_distroless_image_has_no_shell_no_package_manager_and_only_its_programs(
    image: Image,
) -> None:
    names = {path: Path(path).name for path in image.executables()}
    assert [path for path, name in names.items() if name in SHELLS] == []
    assert [path for path, name in names.items() if name.startswith(PACKAGE_MANAGERS)] == []
    programs = sorted(path for path, kind in elf_files(image.tag).items() if kind == "program")
    interpreter = re.compile(
        rf"/opt/python/cpython-[^/]+/bin/python{image.answers['python_version']}"
    )
    assert [path for path in programs if interpreter.fullmatch(path)], programs
    others = {Path(path).name for path in programs if not interpreter.fullmatch(path)}
    assert others == {"dumb-init", *(["uv"] if image.uv_run else [])}, programs
