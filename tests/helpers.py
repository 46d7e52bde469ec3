"""Small helpers for running commands in rendered projects."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from copier._template import load_template_config

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATHS = ("copier.yml", "includes", "template", "hooks")

# A rendered project's own gates, as `uv` arguments: what its CI runs.
GATES = (
    ("sync", "--locked"),
    ("run", "--locked", "ruff", "check"),
    ("run", "--locked", "ruff", "format", "--check"),
    ("run", "--locked", "mypy"),
    ("run", "--locked", "pytest", "-p", "no:cacheprovider"),
)


def copier_config() -> dict[str, Any]:
    """copier.yml as copier reads it: the settings and questions of the files it includes too."""
    config: dict[str, Any] = load_template_config(REPO_ROOT / "copier.yml")
    return config


def run(*command: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise with its whole output, so the test report says why."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"`{' '.join(map(str, command))}` exited {result.returncode} in {cwd}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def project_files(project: Path) -> set[str]:
    """Every file of a rendered project, relative, ignoring .git and tool caches."""
    skipped = {".git", ".venv", ".mypy_cache", ".pytest_cache", ".ruff_cache", "__pycache__"}
    return {
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file() and not skipped.intersection(path.relative_to(project).parts)
    }


def run_in_terminal(
    command: list[str | Path], cwd: Path, replies: dict[str, str], timeout: float = 600
) -> tuple[int, str]:
    """Run a command in a pseudo-terminal, as a person at its prompts would.

    When the output so far shows a key of `replies` (a prompt), its value is typed once. Returns
    the exit code and everything the terminal showed.
    """
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(part) for part in command],
        cwd=cwd,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        # prompt_toolkit would wait for an answer to its cursor-position query otherwise.
        env={**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm"},
        start_new_session=True,
    )
    os.close(terminal)
    shown, pending = b"", dict(replies)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([controller], [], [], 1)[0]:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: the process has exited
                break
            if not chunk:
                break
            shown += chunk
            for prompt in [prompt for prompt in pending if prompt.encode() in shown]:
                os.write(controller, pending.pop(prompt).encode())
        else:
            process.kill()
            raise AssertionError(f"{command} still ran after {timeout}s:\n{shown.decode()}")
        return process.wait(timeout=60), shown.decode(errors="replace")
    finally:
        os.close(controller)


def tool(name: str) -> Path:
    """A linter from the template's dev group, next to this interpreter (CI has no other PATH)."""
    path = Path(sys.executable).parent / name
    assert path.is_file(), f"{name} is missing: run `uv sync --locked` in the template repository"
    return path


def git(*arguments: str, cwd: Path) -> str:
    return run("git", *arguments, cwd=cwd).stdout


def commit(project: Path, message: str) -> None:
    git("add", "--all", cwd=project)
    git("commit", "--quiet", "--allow-empty", "--message", message, cwd=project)


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of `old`; fail loudly when the anchor moved."""
    text = path.read_text()
    assert text.count(old) == 1, f"{path}: expected exactly one {old!r}"
    path.write_text(text.replace(old, new))


@dataclass
class Template:
    """A template repository that releases by PEP 440 tags, as the real one does."""

    path: Path

    @classmethod
    def from_checkout(cls, path: Path, ref: str | None = None) -> Template:
        """This checkout's template files: the working tree, or as they were at `ref`."""
        path.mkdir(parents=True)
        template = cls(path)
        template.replace_with_checkout(ref)
        git("init", "--quiet", "--initial-branch=main", cwd=path)
        return template

    def replace_with_checkout(self, ref: str | None = None) -> None:
        for name in TEMPLATE_PATHS:
            target = self.path / name
            if target.is_dir():
                shutil.rmtree(target)
            target.unlink(missing_ok=True)
        if ref is None:
            for name in TEMPLATE_PATHS:
                source = REPO_ROOT / name
                if source.is_dir():
                    ignored = shutil.ignore_patterns("__pycache__", "*.pyc")
                    shutil.copytree(source, self.path / name, ignore=ignored)
                else:
                    shutil.copy2(source, self.path / name)
            return
        # An older release may lack a path the template has today (includes/ came in 0.4.0).
        present = git("ls-tree", "--name-only", ref, "--", *TEMPLATE_PATHS, cwd=REPO_ROOT).split()
        archive = subprocess.run(
            ["git", "archive", "--format=tar", ref, "--", *present],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(self.path, filter="data")

    def edit(self, relative: str, old: str, new: str) -> None:
        edit(self.path / relative, old, new)

    def release(self, tag: str) -> None:
        commit(self.path, f"Release {tag}")
        git("tag", tag, cwd=self.path)


# ---------------------------------------------------------------- a service and its updates

COPIER = Path(sys.executable).with_name("copier")
PROJECT_NAME = "Acme Payments API"
# The owner's service runs on a Python this machine has, so the hook can lock it here.
OWNER_PYTHON = "3.13"
UPDATE = ("update", "--trust", "--defaults")


def status(project: Path) -> list[str]:
    """`git status --porcelain` lines, untracked files included."""
    return git("status", "--porcelain", "--untracked-files=all", cwd=project).splitlines()


def answers_of(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return data


def copier(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run(COPIER, *arguments, cwd=cwd)


def render_release(template: Template, destination: Path, ref: str, *options: str) -> Path:
    """`copier copy` at a release, then the owner's first commit."""
    copier(
        "copy",
        "--trust",
        "--defaults",
        "--vcs-ref",
        ref,
        "--data",
        f"project_name={PROJECT_NAME}",
        "--data",
        f"python_version={OWNER_PYTHON}",
        *options,
        str(template.path),
        str(destination),
        cwd=template.path.parent,
    )
    commit(destination, f"Render the service from {ref}")
    return destination


def update(project: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """The command UPDATING.md gives owners (test_updating_guide_... keeps them equal)."""
    return copier(*UPDATE, *options, cwd=project)


# ---------------------------------------------------------------- a stand-in for the OSV API


def normalized(name: str) -> str:
    """A package name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Advisory:
    """An OSV record: one vulnerability of one PyPI package, at the listed versions."""

    id: str
    package: str
    versions: tuple[str, ...]
    summary: str
    aliases: tuple[str, ...] = ()
    fixed: str = "99.0"

    def record(self) -> dict[str, Any]:
        """The record as GET /v1/vulns/<id> returns it (OSV schema 1.x)."""
        return {
            "schema_version": "1.6.0",
            "id": self.id,
            "modified": "2026-01-01T00:00:00Z",
            "published": "2026-01-01T00:00:00Z",
            "aliases": list(self.aliases),
            "summary": self.summary,
            "affected": [
                {
                    "package": {"ecosystem": "PyPI", "name": self.package},
                    "ranges": [
                        {
                            "type": "ECOSYSTEM",
                            "events": [{"introduced": "0"}, {"fixed": self.fixed}],
                        }
                    ],
                    "versions": list(self.versions),
                }
            ],
            "references": [{"type": "ADVISORY", "url": f"https://example.com/{self.id}"}],
        }

    def affects(self, package: str, version: str) -> bool:
        return normalized(package) == normalized(self.package) and version in self.versions


@dataclass
class OsvStub:
    """The OSV API as `uv audit --service-url` uses it, on 127.0.0.1 at a port the kernel picks.

    uv posts every locked package and version to /v1/querybatch in one batch, then fetches each
    returned ID's record from /v1/vulns/<id>. Anything else is a 404. `queried` keeps each
    (package, version) asked about.
    """

    advisories: tuple[Advisory, ...] = ()
    queried: list[tuple[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the stub is not serving"
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        if method == "POST" and path == "/v1/querybatch":
            results = []
            for query in json.loads(body)["queries"]:
                package, version = query["package"]["name"], query["version"]
                assert query["package"]["ecosystem"] == "PyPI", query
                self.queried.append((package, version))
                found = [item for item in self.advisories if item.affects(package, version)]
                results.append(
                    {
                        "vulns": [
                            {"id": item.id, "modified": "2026-01-01T00:00:00Z"} for item in found
                        ]
                    }
                    if found
                    else {}
                )
            return 200, {"results": results}
        if method == "GET" and path.startswith("/v1/vulns/"):
            wanted = path.removeprefix("/v1/vulns/")
            for item in self.advisories:
                if item.id == wanted:
                    return 200, item.record()
        return 404, {"code": 5, "message": "Not Found"}

    def __enter__(self) -> OsvStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def reply(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, payload = stub.answer(method, self.path, self.rfile.read(length))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self.reply("GET")

            def do_POST(self) -> None:
                self.reply("POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


# ---------------------------------------------------------------- the pinned linters

# Stands in for uvx in the rendered lint commands: `uvx [--from PACKAGE==X] TOOL==X ...` runs
# TOOL from this repository's venv, whose versions the tests check the pins against.
FAKE_UVX = """#!/bin/sh
if [ "$1" = --from ]; then shift 2; fi
tool=${1%%==*}
shift
exec "$TOOLS/$tool" "$@"
"""


def pinned_tools_environment(folder: Path) -> dict[str, str]:
    """os.environ with FAKE_UVX as uvx, and this venv's tools on PATH (actionlint's shellcheck)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "uvx").write_text(FAKE_UVX)
    (folder / "uvx").chmod(0o755)
    tools = Path(sys.executable).parent
    path = os.pathsep.join((str(folder), str(tools), os.environ["PATH"]))
    return {**os.environ, "PATH": path, "TOOLS": str(tools)}
