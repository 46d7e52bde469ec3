"""Building in an organisation: private index, corporate CA, offline builds, native
dependencies and multi-arch publishing, each as an owner would use it.

The indexes are pypiserver on loopback (behind a password or a throwaway CA), the builds
use `docker build --network host` to reach them, and the offline build has no network.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml

from .support import (
    COMPILER,
    DEFAULTS,
    HOST_PYTHON,
    REPO_ROOT,
    UV,
    TaskEnvironment,
    Template,
    answers_of,
    bake_action_command,
    bake_build_options,
    bake_definition,
    build_turn,
    commit,
    docker,
    git,
    image_files,
    project_files,
    render_into,
    render_release,
    require_engine,
    run,
    status,
    step_outputs,
    tool,
    unique_name,
    update,
    workflow_step,
)

PYTHON = HOST_PYTHON  # the hook and `uv add` lock on the host
INDEX_USER = "ci-bot"
PACKAGE = "acme-greeting"
GREETING = "hello from the internal index"
SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
ENTERPRISE_QUESTIONS = (
    "index_url",
    "index_name",
    "ca_bundle",
    "build_packages",
    "runtime_packages",
    "offline_build",
    "publish_image",
)

Render = Callable[..., Path]


# ---------------------------------------------------------------- a package index on loopback


# pypiserver in its own process: its bottle installs an import hook that warns on every later
# import, and the test suite turns warnings into errors.
SERVE_INDEX = """
import os, socketserver, ssl, sys, warnings
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

warnings.simplefilter("ignore")
import pypiserver
from passlib.apache import HtpasswdFile

packages, workdir, certificate = sys.argv[1:]
user, password = os.environ.get("INDEX_USER"), os.environ.get("INDEX_PASSWORD")
password_file = "."
if user:
    password_file = os.path.join(workdir, "htpasswd")
    htpasswd = HtpasswdFile(password_file, new=True)
    htpasswd.set_password(user, password)
    htpasswd.save()
app = pypiserver.app(
    roots=[packages],
    password_file=password_file,
    authenticate=["download", "list", "update"] if user else [],
    disable_fallback=True,
)

class Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True

class Quiet(WSGIRequestHandler):
    def log_message(self, *arguments):
        pass

server = make_server("127.0.0.1", 0, app, server_class=Server, handler_class=Quiet)
if certificate:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate)
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_port, flush=True)
server.serve_forever()
"""


@contextmanager
def package_index(
    packages: Path,
    workdir: Path,
    *,
    login: tuple[str, str] | None = None,
    certificate: Path | None = None,
) -> Iterator[str]:
    """pypiserver on 127.0.0.1 (no PyPI fallback), behind a login or TLS; its simple API URL."""
    environment = dict(os.environ)
    if login:
        environment["INDEX_USER"], environment["INDEX_PASSWORD"] = login
    with subprocess.Popen(
        [sys.executable, "-c", SERVE_INDEX, str(packages), str(workdir), str(certificate or "")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    ) as server:
        try:
            assert server.stdout is not None
            port = server.stdout.readline().strip()
            assert port.isdigit(), server.stderr.read() if server.stderr else "no output"
            yield f"{'https' if certificate else 'http'}://127.0.0.1:{port}/simple/"
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture(scope="module")
def internal_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding one tiny pure-Python wheel, built with `uv build` like any project."""
    source = tmp_path_factory.mktemp("internal-package")
    (source / "pyproject.toml").write_text(
        f'[project]\nname = "{PACKAGE}"\nversion = "1.0.0"\nrequires-python = ">=3.11"\n\n'
        '[build-system]\nrequires = ["uv_build>=0.9,<1"]\nbuild-backend = "uv_build"\n'
    )
    module = source / "src" / PACKAGE.replace("-", "_")
    module.mkdir(parents=True)
    (module / "__init__.py").write_text(f"GREETING = {GREETING!r}\n")
    packages = tmp_path_factory.mktemp("packages")
    run(UV, "build", "--wheel", "--out-dir", packages, cwd=source)
    assert len(list(packages.glob("*.whl"))) == 1
    return packages


# ---------------------------------------------------------------- rendering and building


def render_service(copier_template: Path, destination: Path, **data: Any) -> Path:
    return render_into(copier_template, destination, {**DEFAULTS, "python_version": PYTHON, **data})


def build(project: Path, tag: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`docker build --progress=plain`; the result whatever it is (the caller asserts)."""
    return docker(
        "build", "--progress=plain", "--tag", tag, *arguments, ".", cwd=project, check=False
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@contextmanager
def removed_afterwards(*tags: str) -> Iterator[None]:
    try:
        yield
    finally:
        for tag in tags:
            docker("image", "rm", "--force", tag, check=False)


def ci_build_step(project: Path) -> dict[str, Any]:
    """The image job's Build step of the rendered GitHub CI workflow."""
    return workflow_step(project, "ci.yml", "image", "name", "Build")


def run_ci_build(
    project: Path, tag: str, environment: dict[str, str], *, host_network: bool = False
) -> subprocess.CompletedProcess[str]:
    """The CI workflow's Build step as a runner runs it (its env, secrets from `environment`),
    building `tag`. With host_network (a loopback index), the bake target's own options go to
    `docker build --network host --no-cache`: buildx 0.13's bake has no `network`."""
    step = ci_build_step(project)
    assert step["env"]["TAG"].endswith(":ci")
    variables = {**step["env"], **environment, "TAG": tag}
    command = bake_action_command(step)
    if host_network:
        (target,) = bake_definition(project, variables).values()
        assert target["tags"] == [tag]
        build = ("docker", "build", "--no-cache", "--network", "host", "--tag", tag)
        command = [*build, *bake_build_options(target), "."]
    with build_turn(command[1:]):
        return subprocess.run(
            command,
            cwd=project,
            env={**os.environ, **variables},
            capture_output=True,
            text=True,
            check=False,
        )


def python_in(tag: str, code: str, *run_arguments: str) -> str:
    """Run Python in a throwaway container of the image; its stdout."""
    return docker(
        "run", "--rm", *run_arguments, "--entrypoint", "python", tag, "-c", code
    ).stdout.strip()


def saved_image(tag: str) -> bytes:
    """`docker save` of the image: every layer and the config, as bytes to search."""
    return subprocess.run(
        ["docker", "save", tag], capture_output=True, check=True, timeout=300
    ).stdout


def image_filesystem(tag: str) -> dict[str, bytes]:
    """Every regular file of the image (from `docker export`), by path."""
    container = docker("create", tag).stdout.strip()
    try:
        exported = subprocess.run(
            ["docker", "export", container], capture_output=True, check=True, timeout=300
        ).stdout
    finally:
        docker("rm", "--force", container, check=False)
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(exported)) as archive:
        for member in archive:
            if member.isfile():
                extracted = archive.extractfile(member)
                assert extracted is not None
                files["/" + member.name.removeprefix("./")] = extracted.read()
    return files


def files_containing(files: dict[str, bytes], needle: bytes) -> list[str]:
    return sorted(path for path, content in files.items() if needle in content)


# ---------------------------------------------------------------- defaults keep the output


def enterprise_commit() -> str | None:
    """The commit that added the "building in your organisation" questions, if history has it."""
    if not (REPO_ROOT / ".git").exists():
        return None
    found = git(
        "log", "--reverse", "--format=%H", "-G", "^index_url:", "--", "copier.yml", cwd=REPO_ROOT
    ).split()
    return found[0] if found else None


def test_the_release_adding_these_questions_updates_services_without_a_diff(
    tmp_path: Path,
) -> None:
    """A service rendered before the questions existed takes them with no file changed."""
    added = enterprise_commit()
    if added is None:
        pytest.skip("no git history with the commit that added the questions (shallow clone?)")
    template = Template.from_checkout(tmp_path / "template", f"{added}~1")
    template.release("1.0.0")
    template.replace_with_checkout(added)
    template.release("1.1.0")
    project = render_release(
        template, tmp_path / "service", "1.0.0", "--data", f"python_version={PYTHON}"
    )

    update(project)
    assert status(project) == [" M .copier-answers.yml"]
    recorded = answers_of(project)
    assert recorded["_commit"] == "1.1.0"
    assert {name: recorded.get(name) for name in ENTERPRISE_QUESTIONS} == {
        "index_url": "",
        "index_name": None,  # asked only with an index_url
        "ca_bundle": "none",
        "build_packages": "",
        "runtime_packages": "",
        "offline_build": False,
        "publish_image": False,
    }
    # The questions are wired: other answers do change the files.
    commit(project, "Update to 1.1.0")
    update(project, "--data", "build_packages=gcc", "--data", "publish_image=true")
    assert (
        "apt-get install --yes --no-install-recommends gcc" in (project / "Dockerfile").read_text()
    )
    assert (project / ".github" / "workflows" / "publish.yml").is_file()


# What each feature adds; none of it may appear when every answer is at its default.
ENTERPRISE_MARKERS = {
    "Dockerfile": (
        "type=secret",
        "TARGETPLATFORM",
        "uv-cache",
        "UV_OFFLINE",
        "SSL_CERT_FILE",
        "update-ca-certificates",
    ),
    "pyproject.toml": ("[[tool.uv.index]]",),
    ".github/workflows/ci.yml": ("packages: write", "setup-qemu", "INDEX_NETRC"),
}


@pytest.mark.parametrize("ci", ["github", "gitlab"])
@pytest.mark.parametrize("python_source", ["image", "uv-managed"])
def test_default_answers_leave_no_trace_of_the_enterprise_features(
    render: Render, ci: str, python_source: str
) -> None:
    project = render(python_version=PYTHON, ci=ci, python_source=python_source)
    files = project_files(project)
    assert not [path for path in files if "publish" in path]
    for relative, markers in ENTERPRISE_MARKERS.items():
        if relative in files:
            text = (project / relative).read_text()
            assert not [marker for marker in markers if marker in text], relative
    if ci == "gitlab":
        assert "publish" not in (project / ".gitlab-ci.yml").read_text()
    dockerfile = (project / "Dockerfile").read_text()
    # apt runs only for uv-managed's CA certificates, in deps; the runtime copies them.
    installed = re.findall(r"apt-get install --yes --no-install-recommends (.+)", dockerfile)
    assert installed == (["ca-certificates"] if python_source == "uv-managed" else [])
    assert "apt-get" not in dockerfile.split(" AS runtime\n")[1]


# A question copier does not ask (its `when` is false) still takes a value from --data or a
# data file: that value must change nothing, not even the answers file, which omits it.
HIDDEN_ANSWERS = {
    "publish_image without a CI": ({"ci": "none"}, {"publish_image": True}),
    "index_name without an index": ({}, {"index_name": "corp-pypi"}),
}


@pytest.mark.parametrize(("asked", "hidden"), HIDDEN_ANSWERS.values(), ids=HIDDEN_ANSWERS)
def test_an_answer_to_a_question_not_asked_changes_nothing(
    render: Render, asked: dict[str, Any], hidden: dict[str, Any]
) -> None:
    without = render(python_version=PYTHON, **asked)
    given = render(python_version=PYTHON, **asked, **hidden)
    files = project_files(without)
    assert project_files(given) == files
    changed = [f for f in sorted(files) if (given / f).read_bytes() != (without / f).read_bytes()]
    assert changed == []
    assert not set(hidden) & set(answers_of(given))


def test_an_update_turns_offline_build_off_for_a_uv_managed_service(tmp_path: Path) -> None:
    """offline_build was accepted with uv-managed: an update takes the default, never fails."""
    template = Template.from_checkout(tmp_path / "template")
    refusal = "{% if offline_build and python_source == 'uv-managed' %}"
    template.edit("copier.yml", refusal, "{% if false %}")
    template.release("1.0.0")
    template.replace_with_checkout()
    template.release("1.1.0")
    uv_managed_offline = ("--data", "python_source=uv-managed", "--data", "offline_build=true")
    project = render_release(template, tmp_path / "service", "1.0.0", *uv_managed_offline)
    assert "uv-cache-export" in (project / "Dockerfile").read_text()

    with pytest.raises(AssertionError, match="python_source=uv-managed downloads Python"):
        update(project, "--data", "offline_build=true")
    assert status(project) == []
    update(project)
    assert {key: answers_of(project)[key] for key in ("_commit", "offline_build")} == {
        "_commit": "1.1.0",
        "offline_build": False,
    }
    assert "uv-cache" not in (project / "Dockerfile").read_text()


# ---------------------------------------------------------------- answers are validated


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"index_url": "ftp://pypi.example.com/simple/"}, "index_url must be an http(s) URL"),
        ({"index_url": "https://bot:pw@pypi.example.com/simple/"}, "without credentials"),
        ({"index_url": "https://pypi.example.com/my index/"}, "fragment or spaces"),
        ({"index_url": "https://x.example/simple/", "index_name": "Corp_PyPI"}, "kebab-case"),
        ({"build_packages": "gcc Libpq-dev"}, '"Libpq-dev" is not a Debian package name'),
        ({"runtime_packages": "libpq5;rm"}, '"libpq5;rm" is not a Debian package name'),
    ],
)
def test_invalid_enterprise_answers_are_refused(
    render: Render, answers: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        render(python_version=PYTHON, **answers)


# ---------------------------------------------------------------- every feature on: linters


FEATURES: dict[str, Any] = {
    "index_url": "https://pypi.example.com/simple/",
    "index_name": "corp-pypi",
    "ca_bundle": "runtime",
    "build_packages": "gcc libc6-dev libpq-dev",
    "runtime_packages": "libpq5",
    "publish_image": True,
}
# uv-managed Python cannot build offline (copier refuses it): only the image renders do.
FEATURES_BY_SOURCE: dict[str, dict[str, Any]] = {"image": {"offline_build": True}, "uv-managed": {}}


@pytest.fixture(scope="module")
def featured(
    copier_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, str], Path]:
    """Every feature that goes with python_source on, per CI (the hook cannot reach the index)."""
    cache: dict[tuple[str, str], Path] = {}

    def get(ci: str, python_source: str) -> Path:
        if (ci, python_source) not in cache:
            destination = tmp_path_factory.mktemp("featured") / f"{ci}-{python_source}"
            cache[ci, python_source] = render_service(
                copier_template,
                destination,
                ci=ci,
                python_source=python_source,
                **FEATURES,
                **FEATURES_BY_SOURCE[python_source],
            )
        return cache[ci, python_source]

    return get


@pytest.mark.parametrize("python_source", ["image", "uv-managed"])
def test_every_feature_on_passes_hadolint(
    featured: Callable[[str, str], Path], python_source: str
) -> None:
    project = featured("github", python_source)
    run(tool("hadolint"), "--no-color", "--failure-threshold", "style", "Dockerfile", cwd=project)


def test_every_feature_on_passes_actionlint_zizmor_and_yamllint(
    featured: Callable[[str, str], Path],
) -> None:
    project = featured("github", "image")
    run(tool("actionlint"), "-no-color", "-shellcheck", tool("shellcheck"), cwd=project)
    result = run(
        tool("zizmor"), "--offline", "--no-progress", "--format", "plain", ".github", cwd=project
    )
    assert "No findings to report" in result.stdout, result.stdout
    run(tool("yamllint"), "--strict", "--config-file", ".yamllint.yaml", ".", cwd=project)


def test_every_feature_on_gitlab_ci_matches_its_schema(
    featured: Callable[[str, str], Path],
) -> None:
    project = featured("gitlab", "image")
    schema = ("--builtin-schema", "vendor.gitlab-ci", "--data-transform", "gitlab-ci")
    run(tool("check-jsonschema"), *schema, ".gitlab-ci.yml", cwd=project)
    run(tool("yamllint"), "--strict", "--config-file", ".yamllint.yaml", ".", cwd=project)


def test_publishing_builds_both_platforms_and_pushes_only_on_tags(
    featured: Callable[[str, str], Path],
) -> None:
    project = featured("github", "image")
    workflow = yaml.safe_load((project / ".github/workflows/publish.yml").read_text())
    assert workflow[True] == {"push": {"tags": ["v*"]}}  # YAML 1.1 reads `on` as true
    assert workflow["permissions"] == {"contents": "read"}
    job = workflow["jobs"]["publish"]
    assert job["permissions"] == {"contents": "read", "packages": "write"}
    uses = [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]
    assert uses == [
        "actions/checkout",
        "docker/setup-qemu-action",
        "docker/setup-buildx-action",
        "docker/login-action",
        "docker/metadata-action",
        "docker/bake-action",
    ]
    bake = job["steps"][-1]
    assert bake["with"]["push"] is True
    assert bake["with"]["targets"] == "publish"
    # docker-bake.hcl and the version tags docker/metadata-action wrote as a bake file.
    assert bake["with"]["files"].splitlines() == [
        "./docker-bake.hcl",
        "cwd://${{ steps.meta.outputs.bake-file }}",
    ]
    assert bake["env"] == {
        "INDEX_NETRC": "${{ secrets.INDEX_NETRC }}",
        # ca_bundle=runtime: the digest of the runner's bundle, which an earlier step computed.
        "CA_BUNDLE_SHA256": "${{ steps.ca.outputs.sha256 }}",
    }
    (digest,) = [step for step in job["steps"] if step.get("id") == "ca"]
    assert "sha256sum /etc/ssl/certs/ca-certificates.crt" in digest["run"]
    # No cache a pull request could have written reaches a release build.
    assert "set" not in bake["with"]
    assert "cache-" not in (project / ".github/workflows/publish.yml").read_text()

    gitlab_project = featured("gitlab", "image")
    gitlab = yaml.safe_load((gitlab_project / ".gitlab-ci.yml").read_text())
    publish = gitlab["publish-image"]
    assert publish["rules"] == [{"if": "$CI_COMMIT_TAG"}]
    assert publish["variables"]["TAG"] == "$CI_REGISTRY_IMAGE:$CI_COMMIT_TAG"
    assert publish["script"] == ["docker buildx bake --push publish"]
    assert 'export CA_BUNDLE_SHA256="$(sha256sum /etc/ssl/certs/' in " ".join(
        publish["before_script"]
    )

    # What both push: the publish target, as buildx resolves docker-bake.hcl.
    for source in (project, gitlab_project):
        target = bake_definition(source, {"CA_BUNDLE_SHA256": "0" * 64}, "publish")["publish"]
        assert target["platforms"] == ["linux/amd64", "linux/arm64"]
        assert target["no-cache"] is True
        assert not [key for key in target if key.startswith("cache")]
        assert target["secret"] == [
            "id=netrc,env=INDEX_NETRC",
            "id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt",
        ]
        assert target["args"] == {"CA_BUNDLE_SHA256": "0" * 64}


def test_ci_passes_the_index_login_to_tests_and_image_builds(
    featured: Callable[[str, str], Path],
) -> None:
    workflow = yaml.safe_load(
        (featured("github", "image") / ".github/workflows/ci.yml").read_text()
    )
    (sync,) = [s for s in workflow["jobs"]["test"]["steps"] if s.get("run") == "uv sync --locked"]
    assert sync["env"] == {
        f"UV_INDEX_CORP_PYPI_{part}": f"${{{{ secrets.UV_INDEX_CORP_PYPI_{part} }}}}"
        for part in ("USERNAME", "PASSWORD")
    }
    build = ci_build_step(featured("github", "image"))
    assert build["env"]["INDEX_NETRC"] == "${{ secrets.INDEX_NETRC }}"

    gitlab_project = featured("gitlab", "image")
    gitlab = yaml.safe_load((gitlab_project / ".gitlab-ci.yml").read_text())
    assert gitlab["build-image"]["script"][0].startswith("docker buildx bake --load")
    # Both bake docker-bake.hcl's image target: the login from INDEX_NETRC (a CI secret or
    # variable) and the bundle, as secrets.
    for project in (featured("github", "image"), gitlab_project):
        (target,) = bake_definition(project, {}).values()
        assert target["secret"] == [
            "id=netrc,env=INDEX_NETRC",
            "id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt",
        ]


def test_uv_caches_are_per_platform_when_publishing(featured: Callable[[str, str], Path]) -> None:
    dockerfile = (featured("github", "uv-managed") / "Dockerfile").read_text()
    mounts = re.findall(r"--mount=type=cache,[^ ]*target=/root/\.cache/uv[^ ]*", dockerfile)
    assert len(mounts) == 4  # python install, dependencies, project, dev
    assert all("id=uv-${TARGETPLATFORM}" in mount for mount in mounts), mounts
    assert "ARG TARGETPLATFORM" in dockerfile


# ---------------------------------------------------------------- private index


@pytest.mark.docker
@pytest.mark.slow
def test_private_index_login_reaches_the_build_only_as_a_secret(
    copier_template: Path,
    internal_packages: Path,
    tmp_path: Path,
    task_env: TaskEnvironment,
) -> None:
    require_engine()
    password = f"pw-{secrets.token_hex(12)}"
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1\nlogin {INDEX_USER}\npassword {password}\n")

    login = (INDEX_USER, password)
    with package_index(internal_packages, tmp_path, login=login) as index_url:
        # The owner's machine has the login in uv's variables, for the hook and `uv add`.
        task_env.set("UV_INDEX_INTERNAL_USERNAME", INDEX_USER)
        task_env.set("UV_INDEX_INTERNAL_PASSWORD", password)
        project = render_service(copier_template, tmp_path / "service", index_url=index_url)
        run(UV, "add", "--no-sync", PACKAGE, cwd=project)
        locked = (project / "uv.lock").read_text()
        assert f'source = {{ registry = "{index_url}" }}' in locked
        assert 'source = { registry = "https://pypi.org/simple" }' in locked  # PyPI serves the rest
        for relative in project_files(project):
            assert password not in (project / relative).read_text(errors="replace"), relative

        tag = unique_name("cus-index") + ":test"
        with removed_afterwards(tag):
            refused = build(project, tag, "--network", "host", "--no-cache")
            assert refused.returncode != 0
            assert "401 Unauthorized" in output(refused), output(refused)[-3000:]

            built = build(project, tag, "--network", "host", "--secret", f"id=netrc,src={netrc}")
            assert built.returncode == 0, output(built)[-3000:]
            assert python_in(
                tag, f"import {PACKAGE.replace('-', '_')} as m; print(m.GREETING)"
            ) == (GREETING)

            # CI's Build step gets the login from the INDEX_NETRC secret.
            ci_built = run_ci_build(
                project, tag, {"INDEX_NETRC": netrc.read_text()}, host_network=True
            )
            assert ci_built.returncode == 0, ci_built.stderr[-3000:]

            # Nowhere in the image: history, config, layers, filesystem.
            history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag).stdout
            assert "COPY" in history
            assert password not in history
            assert password not in docker("image", "inspect", tag).stdout
            saved = saved_image(tag)
            assert GREETING.encode() in saved  # the search sees layer contents
            assert password.encode() not in saved
            assert not files_containing(image_filesystem(tag), password.encode())


# ---------------------------------------------------------------- corporate CA


@dataclass
class ThrowawayCA:
    pem_body: bytes
    bundle: Path
    server_certificate: Path


def make_throwaway_ca(folder: Path) -> ThrowawayCA:
    """A CA nobody trusts, a loopback certificate it signed, and a full bundle that adds it."""
    folder.mkdir()
    authority = trustme.CA()
    server_certificate = folder / "server.pem"
    authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        str(server_certificate)
    )
    pem = authority.cert_pem.bytes()
    # The machine's own roots first: the secret replaces uv's whole trust store.
    bundle = folder / "ca-bundle.pem"
    bundle.write_bytes(SYSTEM_BUNDLE.read_bytes() + b"\n" + pem)
    # A base64 line of the public key (trustme CAs share the subject lines): in PEM copies only.
    return ThrowawayCA(pem.splitlines()[6], bundle, server_certificate)


def bundle_secret(ca: ThrowawayCA) -> tuple[str, ...]:
    """The build options the README gives for the runtime trust store: secret and digest."""
    digest = hashlib.sha256(ca.bundle.read_bytes()).hexdigest()
    return (
        "--secret",
        f"id=ca_bundle,src={ca.bundle}",
        "--build-arg",
        f"CA_BUNDLE_SHA256={digest}",
    )


PROBE_TLS = """
import sys, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=10).status)
except Exception as error:
    print(type(error).__name__, error)
"""


def https_status_in(tag: str, url: str) -> str:
    """GET url from the image's Python with its own trust store (SSL_CERT_FILE unset)."""
    return docker(
        "run", "--rm", "--network", "host", "--entrypoint", "env", tag,
        "-u", "SSL_CERT_FILE", "python", "-c", PROBE_TLS, url,
    ).stdout.strip()  # fmt: skip


@pytest.mark.docker
@pytest.mark.slow
def test_ca_bundle_secret_lets_uv_through_a_tls_inspecting_proxy(
    copier_template: Path,
    internal_packages: Path,
    tmp_path: Path,
    task_env: TaskEnvironment,
) -> None:
    require_engine()
    throwaway_ca = make_throwaway_ca(tmp_path / "ca")
    certificate = throwaway_ca.server_certificate
    with package_index(internal_packages, tmp_path, certificate=certificate) as index_url:
        task_env.set("SSL_CERT_FILE", str(throwaway_ca.bundle))
        services = {
            choice: render_service(
                copier_template, tmp_path / choice, index_url=index_url, ca_bundle=choice
            )
            for choice in ("build", "runtime")
        }
        for project in services.values():
            run(UV, "add", "--no-sync", PACKAGE, cwd=project)

        secret = ("--secret", f"id=ca_bundle,src={throwaway_ca.bundle}")
        build_only, runtime = (unique_name(f"cus-ca-{c}") + ":test" for c in services)
        with removed_afterwards(build_only, runtime):
            refused = build(services["build"], build_only, "--network", "host", "--no-cache")
            assert refused.returncode != 0
            assert "invalid peer certificate: UnknownIssuer" in output(refused), output(refused)

            built = build(services["build"], build_only, "--network", "host", *secret)
            assert built.returncode == 0, output(built)[-3000:]
            assert python_in(build_only, f"import {PACKAGE.replace('-', '_')}") == ""
            assert not files_containing(image_filesystem(build_only), throwaway_ca.pem_body)
            assert "CERTIFICATE_VERIFY_FAILED" in https_status_in(build_only, index_url)

            # Opted in: the runtime trust store has the bundle and the service's clients trust it.
            with_digest = bundle_secret(throwaway_ca)[2:]
            missing = build(services["runtime"], runtime, "--network", "host", *with_digest)
            assert missing.returncode != 0
            assert "secret ca_bundle: not found" in output(missing), output(missing)[-3000:]
            built = build(
                services["runtime"], runtime, "--network", "host", *bundle_secret(throwaway_ca)
            )
            assert built.returncode == 0, output(built)[-3000:]
            holders = files_containing(image_filesystem(runtime), throwaway_ca.pem_body)
            assert "/etc/ssl/certs/ca-certificates.crt" in holders, holders
            assert https_status_in(runtime, index_url) == "200"

            # A new bundle replaces the old one: the digest rebuilds the layer the secret cannot.
            rotated = make_throwaway_ca(tmp_path / "rotated-ca")
            mismatched = (*bundle_secret(rotated)[:2], *with_digest)
            # Only the runtime stage afresh: the index's certificate is signed by the old CA, so
            # the dependency stages must come from the cache (BuildKit never hashes the secret).
            refused = build(
                services["runtime"],
                runtime,
                "--network",
                "host",
                "--no-cache-filter",
                "runtime",
                *mismatched,
            )
            assert "does not match CA_BUNDLE_SHA256" in output(refused), output(refused)[-3000:]
            built = build(
                services["runtime"], runtime, "--network", "host", *bundle_secret(rotated)
            )
            assert built.returncode == 0, output(built)[-3000:]
            files = image_filesystem(runtime)
            assert files_containing(files, rotated.pem_body)
            assert not files_containing(files, throwaway_ca.pem_body)


# ---------------------------------------------------------------- offline build


MANIFEST = """
import hashlib, os, sys
# Every file of the venv but bytecode, and uv's note of when it built the project.
for folder, folders, names in os.walk(sys.prefix):
    folders[:] = [name for name in folders if name != "__pycache__"]
    for name in names:
        path = os.path.join(folder, name)
        if name == "uv_cache.json":
            continue
        if os.path.islink(path):
            data = os.readlink(path).encode()
        else:
            with open(path, "rb") as file:
                data = file.read()
        if name == "RECORD":
            data = b"".join(line for line in data.splitlines(True) if b"uv_cache.json" not in line)
        print(hashlib.sha256(data).hexdigest(), os.path.relpath(path, sys.prefix))
"""


# The README's commands: export on a machine with network, then build with none.
OFFLINE_EXPORT = "docker build --target uv-cache-export --output type=local,dest=../uv-cache ."
OFFLINE_BUILD = (
    "docker build --network none --build-context uv-cache=../uv-cache --build-arg UV_OFFLINE=1"
)


def venv_manifest(tag: str) -> dict[str, str]:
    listing = python_in(tag, MANIFEST)
    return {path: digest for digest, path in (line.split(" ", 1) for line in listing.splitlines())}


@pytest.mark.docker
@pytest.mark.slow
def test_offline_build_from_the_exported_cache_matches_the_online_build(
    copier_template: Path, tmp_path: Path
) -> None:
    require_engine()
    project = render_service(copier_template, tmp_path / "service", offline_build=True)
    readme = (project / "README.md").read_text()
    export, offline = OFFLINE_EXPORT, OFFLINE_BUILD
    assert export in readme
    assert offline in readme

    online_tag, offline_tag = (
        unique_name("cus-online") + ":test",
        unique_name("cus-offline") + ":test",
    )
    with removed_afterwards(online_tag, offline_tag):
        exported = docker(*export.split()[1:], cwd=project, check=False)
        assert exported.returncode == 0, output(exported)[-3000:]
        assert (project.parent / "uv-cache" / "CACHEDIR.TAG").is_file()

        built = build(project, offline_tag, "--no-cache", *offline.split()[2:])
        assert built.returncode == 0, output(built)[-3000:]
        assert "Installed" in output(built)  # uv really ran, without any network
        built = build(project, online_tag)
        assert built.returncode == 0, output(built)[-3000:]

        online, offline_files = venv_manifest(online_tag), venv_manifest(offline_tag)
        assert len(online) > 500
        assert offline_files == online


@pytest.mark.docker
@pytest.mark.slow
def test_offline_build_installs_the_debian_packages_from_the_export(
    copier_template: Path, tmp_path: Path
) -> None:
    """build_packages and runtime_packages: apt reads the export, the build has no network; the
    debug info is stripped all the same."""
    require_engine()
    project = render_service(
        copier_template,
        tmp_path / "service",
        offline_build=True,
        build_packages="gcc libc6-dev libpq-dev",
        runtime_packages="libpq5",
        strip_debug_info=True,
    )
    assert OFFLINE_EXPORT in (project / "README.md").read_text()
    run(UV, "add", "--no-sync", "psycopg2", cwd=project)  # an sdist: compiled with gcc, libpq

    tag = unique_name("cus-offline-apt") + ":test"
    with removed_afterwards(tag):
        exported = docker(*OFFLINE_EXPORT.split()[1:], cwd=project, check=False)
        assert exported.returncode == 0, output(exported)[-3000:]
        archives = project.parent / "uv-cache" / "apt" / "archives"
        downloaded = {deb.name.split("_")[0] for deb in archives.glob("*.deb")}
        assert {"gcc", "libc6-dev", "libpq-dev", "libpq5"} <= downloaded, downloaded

        # No layer cache: both apt steps run, offline, from the export alone.
        built = build(project, tag, "--no-cache", *OFFLINE_BUILD.split()[2:])
        log = output(built)
        assert built.returncode == 0, log[-3000:]
        assert "Setting up libpq-dev" in log
        assert "Setting up libpq5" in log
        assert "Failed to fetch" not in log  # apt never tried the network
        version = python_in(tag, "import psycopg2; print(psycopg2.__libpq_version__)")
        assert int(version) >= 100000, version
        # uvloop's extension ships 14 MB of debug info; about 2 MB are left without it.
        size = python_in(tag, "import os, uvloop.loop as m; print(os.path.getsize(m.__file__))")
        assert int(size) < 4_000_000, size
        files = image_filesystem(tag)
        assert not [path for path in files if path.endswith(".deb")]
        assert not [
            path for path in files if path.startswith("/var/lib/apt/lists/") and "_" in path
        ]


@pytest.mark.docker
@pytest.mark.slow
def test_ci_builds_a_runtime_ca_bundle_image_with_the_runners_own_bundle(
    copier_template: Path, tmp_path: Path
) -> None:
    """The workflow's Build step, run as the runner runs it: the required secret and digest."""
    require_engine()
    project = render_service(copier_template, tmp_path / "service", ca_bundle="runtime")
    bundle = SYSTEM_BUNDLE
    (target,) = bake_definition(project, {}).values()
    assert f"id=ca_bundle,src={bundle}" in target["secret"]
    if not bundle.is_file():
        pytest.skip(f"this machine has no {bundle}, which the workflow reads on the runner")
    digest = step_outputs(workflow_step(project, "ci.yml", "image", "id", "ca"), project, tmp_path)
    assert digest == {"sha256": hashlib.sha256(bundle.read_bytes()).hexdigest()}
    tag = unique_name("cus-ci-ca") + ":test"
    with removed_afterwards(tag):
        built = run_ci_build(project, tag, {"CA_BUNDLE_SHA256": digest["sha256"]})
        assert built.returncode == 0, built.stderr[-3000:]
        added = "/usr/local/share/ca-certificates/organisation-ca-bundle.crt"
        copied = docker("run", "--rm", "--user", "0", "--entrypoint", "cat", tag, added).stdout
        assert copied == bundle.read_text()


# ---------------------------------------------------------------- native dependencies


@pytest.mark.docker
@pytest.mark.slow
def test_a_dependency_compiled_from_source_builds_and_runs_without_a_compiler(
    copier_template: Path, tmp_path: Path
) -> None:
    require_engine()
    project = render_service(
        copier_template,
        tmp_path / "service",
        build_packages="gcc libc6-dev libpq-dev",
        runtime_packages="libpq5",
    )
    run(UV, "add", "--no-sync", "psycopg2", cwd=project)
    locked = (project / "uv.lock").read_text()
    psycopg2 = locked.split('[[package]]\nname = "psycopg2"\n', 1)[1].split("\n\n", 1)[0]
    assert "sdist" in psycopg2
    assert "manylinux" not in psycopg2  # no Linux wheel: the build must compile it

    tag = unique_name("cus-native") + ":test"
    with removed_afterwards(tag):
        # No layer cache: the apt and uv steps run (uv may reuse a wheel it built before).
        built = build(project, tag, "--no-cache")
        assert built.returncode == 0, output(built)[-3000:]
        version = python_in(tag, "import psycopg2; print(psycopg2.__libpq_version__)")
        assert int(version) >= 100000, version
        extension = python_in(tag, "import psycopg2._psycopg as m; print(m.__file__)")
        assert extension.endswith(".so"), extension

        files = image_filesystem(tag)
        executables = [
            path
            for path, info in image_files(tag).items()
            if (info.isfile() or info.issym()) and info.mode & 0o111
        ]
        assert not [path for path in executables if COMPILER.fullmatch(path)]
        assert not [path for path in files if path.startswith("/usr/include/postgresql/")]
        assert [path for path in files if re.search(r"/libpq\.so\.5", path)]
        # apt's lists and downloads stayed in the cache mounts.
        assert not [
            path for path in files if path.startswith("/var/lib/apt/lists/") and "_" in path
        ]
        assert not [path for path in files if path.endswith(".deb")]


def test_readme_gives_the_build_commands_of_each_feature(
    featured: Callable[[str, str], Path],
) -> None:
    readme = (featured("github", "image") / "README.md").read_text()
    section = readme.split("## Building in your organisation", 1)[1].split("\n## ", 1)[0]
    for command in (
        'INDEX_NETRC="$(cat ~/.netrc)" docker buildx bake',
        'CA_BUNDLE_SHA256="$(sha256sum "$CA_BUNDLE" | cut -d\' \' -f1)" docker buildx bake',
        "--secret id=netrc,env=INDEX_NETRC",
        "--build-context uv-cache=../uv-cache",
        "UV_INDEX_CORP_PYPI_USERNAME",
    ):
        assert command in section, command
