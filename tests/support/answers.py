"""The one answer matrix: named rows of answers, each tagged with the tests that use it.

Tags say what a row is for:
- render: rendered once per session (the `rendered` fixture) and checked file by file,
  linted, its compose config and manifests validated: COMBINATIONS
- gates: its own gates (sync, ruff, mypy, pytest) pass, on the host or in the Python image
- image: built and run by tests/test_image.py
- refused: copier refuses it with the row's message, and writes nothing

Together the rows reach every value of every question copier.yml asks; test_answers.py
computes that from copier.yml and names any value no row reaches.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .template import questions

Answers = dict[str, Any]

PYTHON_VERSIONS = ("3.11", "3.12", "3.13", "3.14", "3.15")

DEFAULTS: Answers = {"project_name": "Acme Payments API"}

# Free text at its limits: the longest allowed, non-ASCII letters, quotes and backslashes.
LONGEST_NAME = "Zürich O'Brien Ledger & Payments Service"  # 40 characters
LONGEST_DESCRIPTION = (
    'Books "every" payment of the Zürich desk; C:\\ledger paths, $HOME and 100 % of its '
    "refunds, in 1 line"
)
LONGEST_AUTHOR = 'Équipe "Paiements" & Ledger O\'Brien (platform, on call 24/7)'
LONGEST_EMAIL = "payments.ledger.platform-team+on-call-rotation.eu-12@zurich-payments.example.com"
LONGEST_SLUG = "zurich-obrien-ledger-and-payments-svc-01"
PRIVATE_INDEX = "https://pypi.example.com/simple/"


@dataclass(frozen=True)
class Row:
    name: str
    answers: Answers
    tags: frozenset[str]
    refused: str = ""  # copier's message, for a row tagged refused


def row(name: str, tags: str, refused: str = "", **answers: Any) -> Row:
    return Row(name, answers, frozenset(tags.split()), refused)


IMAGE_NAME = re.compile(
    r"(?P<source>image|managed|distroless)-(?P<venv>opt|app)-(?P<release>trixie|bookworm)"
    r"-(?P<entrypoint>venv|uvrun)-py3(?P<minor>\d+)(?:-[a-z0-9-]+)?"
)


def image_row(name: str, **answers: Any) -> Row:
    """A row tagged image whose name spells its build: image-opt-trixie-venv-py314[-note].

    The source is image (python:slim), managed (uv-managed on Debian slim) or distroless
    (uv-managed on a distroless runtime).
    """
    spelled = IMAGE_NAME.fullmatch(name)
    assert spelled, f"{name} does not spell an image build"
    if spelled["source"] == "distroless":
        answers = {"runtime_base": "distroless", **answers}
    return row(
        name,
        "image",
        python_source={"image": "image"}.get(spelled["source"], "uv-managed"),
        venv_path={"opt": "/opt/venv", "app": "/app/.venv"}[spelled["venv"]],
        debian_release=spelled["release"],
        entrypoint={"venv": "venv", "uvrun": "uv-run"}[spelled["entrypoint"]],
        python_version=f"3.{spelled['minor']}",
        **answers,
    )


ROWS = (
    row("defaults", "render gates"),
    row(
        "py311-uv-managed-bookworm-app-venv-uv-run-all-services-gitlab",
        "render gates",
        python_version="3.11",
        python_source="uv-managed",
        debian_release="bookworm",
        venv_path="/app/.venv",
        entrypoint="uv-run",
        port=8080,
        services=["postgres", "redis"],
        ci="gitlab",
        license="Apache-2.0",
        deploy="kubernetes",
    ),
    row(
        "py312-image-bookworm-redis-no-ci-proprietary",
        "render gates",
        python_version="3.12",
        debian_release="bookworm",
        venv_path="/app/.venv",
        services=["redis"],
        ci="none",
        license="Proprietary",
        project_slug="acme-pay",
        package_name="acme_pay_service",
        metrics=False,
    ),
    row(
        "py313-uv-managed-distroless-trixie-uv-run-postgres-tracing",
        "render gates",
        python_version="3.13",
        python_source="uv-managed",
        runtime_base="distroless",
        entrypoint="uv-run",
        services=["postgres"],
        port=9000,
        deploy="kubernetes",
        tracing=True,
    ),
    row(
        "py314-image-trixie-all-services",
        "render gates",
        python_version="3.14",
        services=["postgres", "redis"],
    ),
    row(
        "py315-image-bookworm-app-venv-uv-run-redis-tracing",
        "render gates",
        python_version="3.15",
        debian_release="bookworm",
        venv_path="/app/.venv",
        entrypoint="uv-run",
        services=["redis"],
        tracing=True,
    ),
    row(
        "py314-uv-managed-trixie", "render gates", python_version="3.14", python_source="uv-managed"
    ),
    # Free text and the port at their limits; the gates prove the names work in code too.
    row(
        "py313-free-text-at-its-limits-port-65535",
        "render gates",
        python_version="3.13",
        project_name=LONGEST_NAME,
        description=LONGEST_DESCRIPTION,
        author_name=LONGEST_AUTHOR,
        author_email=LONGEST_EMAIL,
        project_slug=LONGEST_SLUG,
        package_name=LONGEST_SLUG.replace("-", "_"),
        port=65535,
        license="Apache-2.0",
    ),
    # Building in an organisation. The private index is not reachable here, so these rows use
    # a Python the host has no interpreter of: the hook leaves the lock to the owner either way.
    row(
        "py314-index-ca-build-packages-publish-github",
        "render",
        python_version="3.14",
        description="Books payments once, through the company's own index",
        index_url=PRIVATE_INDEX,
        index_name="corp-pypi",
        ca_bundle="build",
        build_packages="gcc libc6-dev libpq-dev",
        runtime_packages="libpq5",
        publish_image=True,
        services=["postgres"],
    ),
    row(
        "py315-ca-runtime-offline-publish-gitlab-kubernetes-port-1",
        "render",
        python_version="3.15",
        debian_release="bookworm",
        author_name="Payments Guild",
        author_email="payments@corp.example",
        index_url="http://pypi.internal:8080/simple",
        ca_bundle="runtime",
        build_packages="libpq-dev",
        runtime_packages="libpq5 libxml2",
        offline_build=True,
        strip_debug_info=True,
        ci="gitlab",
        publish_image=True,
        deploy="kubernetes",
        port=1,
        tracing=True,
        metrics=False,
    ),
    # Images tests/test_image.py builds and runs (each once per run); the name says the
    # python_source, venv_path, debian_release, entrypoint and python_version (image_row).
    # copier's own defaults, the project name too.
    image_row("image-opt-trixie-venv-py314", project_name="My Service"),
    image_row("image-opt-trixie-venv-py313"),
    image_row("image-app-bookworm-uvrun-py315"),
    # The 3.11 stand-ins no longer ship a stray uv: the venv entrypoint is built there too.
    image_row("image-opt-bookworm-venv-py311"),
    # ca_bundle=build without a bundle: the secret is optional, the image as without it.
    image_row("image-app-trixie-uvrun-py312-ca-build", port=8080, ca_bundle="build"),
    image_row("image-app-bookworm-venv-py312-unstripped", strip_debug_info=False),
    image_row("managed-opt-trixie-uvrun-py313"),
    image_row("managed-opt-trixie-venv-py314"),
    image_row(
        "managed-opt-bookworm-venv-py312-ledger",
        project_slug="ledger",
        package_name="ledger_service",
        port=9000,
    ),
    image_row("managed-app-trixie-venv-py313"),
    image_row("managed-app-bookworm-uvrun-py311"),
    # The distroless runtime on both releases, both venv paths and both entrypoints.
    image_row("distroless-opt-trixie-venv-py314"),
    image_row("distroless-app-trixie-uvrun-py313"),
    image_row("distroless-opt-bookworm-uvrun-py312", port=9000),
    image_row("distroless-app-bookworm-venv-py313"),
    # Answers copier must refuse.
    row(
        "offline-build-with-uv-managed-python",
        "refused",
        "python_source=uv-managed downloads Python while building",
        python_source="uv-managed",
        offline_build=True,
        strip_debug_info=False,
    ),
    row(
        "distroless-with-python-from-the-image",
        "refused",
        "runtime_base=distroless needs python_source=uv-managed",
        runtime_base="distroless",
    ),
    row(
        "distroless-with-runtime-packages",
        "refused",
        "runtime_packages need apt, which a distroless runtime does not have",
        python_source="uv-managed",
        runtime_base="distroless",
        runtime_packages="libpq5",
    ),
    row(
        "distroless-with-the-ca-bundle-in-the-runtime",
        "refused",
        "ca_bundle=runtime needs update-ca-certificates in the runtime",
        python_source="uv-managed",
        runtime_base="distroless",
        ca_bundle="runtime",
    ),
)
BY_NAME = {entry.name: entry for entry in ROWS}


def rows(tag: str) -> Iterator[Row]:
    return (entry for entry in ROWS if tag in entry.tags)


def names(tag: str) -> list[str]:
    """The names of the rows with this tag, in the matrix's order."""
    return [entry.name for entry in rows(tag)]


def answers(name: str) -> Answers:
    """The full data for a named row (the project name included)."""
    return {**DEFAULTS, **BY_NAME[name].answers}


# The rows every rendered-file test runs on, by name.
COMBINATIONS: dict[str, Answers] = {name: BY_NAME[name].answers for name in names("render")}

QUESTIONS = questions()
DEFAULT_PYTHON: str = QUESTIONS["python_version"]["default"]


def python_of(name: str) -> str:
    """The Python version a named row renders."""
    return str(answers(name).get("python_version", DEFAULT_PYTHON))
