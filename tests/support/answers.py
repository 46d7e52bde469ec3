"""Named answer sets shared by the tests: together they cover every value of every question."""

from __future__ import annotations

from typing import Any

from .template import questions

Answers = dict[str, Any]

PYTHON_VERSIONS = ("3.11", "3.12", "3.13", "3.14", "3.15")

DEFAULTS: Answers = {"project_name": "Acme Payments API"}

# Pairwise-style coverage: each row changes several questions away from their defaults.
COMBINATIONS: dict[str, Answers] = {
    "defaults": {},
    "py311-uv-managed-bookworm-app-venv-uv-run-all-services-gitlab": {
        "python_version": "3.11",
        "python_source": "uv-managed",
        "debian_release": "bookworm",
        "venv_path": "/app/.venv",
        "entrypoint": "uv-run",
        "port": 8080,
        "services": ["postgres", "redis"],
        "ci": "gitlab",
        "license": "Apache-2.0",
        "deploy": "kubernetes",
    },
    "py312-image-bookworm-redis-no-ci-proprietary": {
        "python_version": "3.12",
        "debian_release": "bookworm",
        "venv_path": "/app/.venv",
        "services": ["redis"],
        "ci": "none",
        "license": "Proprietary",
        "project_slug": "acme-pay",
        "package_name": "acme_pay_service",
        "metrics": False,
    },
    "py313-uv-managed-trixie-uv-run-postgres-tracing": {
        "python_version": "3.13",
        "python_source": "uv-managed",
        "entrypoint": "uv-run",
        "services": ["postgres"],
        "port": 9000,
        "deploy": "kubernetes",
        "tracing": True,
    },
    "py314-image-trixie-all-services": {
        "python_version": "3.14",
        "services": ["postgres", "redis"],
    },
    "py315-image-bookworm-app-venv-uv-run-redis-tracing": {
        "python_version": "3.15",
        "debian_release": "bookworm",
        "venv_path": "/app/.venv",
        "entrypoint": "uv-run",
        "services": ["redis"],
        "tracing": True,
    },
    "py314-uv-managed-trixie": {
        "python_version": "3.14",
        "python_source": "uv-managed",
    },
}


def answers(name: str) -> Answers:
    """The full data for a named combination (the project name included)."""
    return {**DEFAULTS, **COMBINATIONS[name]}


QUESTIONS = questions()
DEFAULT_PYTHON: str = QUESTIONS["python_version"]["default"]


def python_of(name: str) -> str:
    """The Python version a named combination renders."""
    return str(answers(name).get("python_version", DEFAULT_PYTHON))
