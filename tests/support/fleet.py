"""A template with releases and a fleet of services rendered from them, edited by owners.

Shared by tests/test_fleet.py and bench/fleet_update.py. The template is this checkout released as
1.0.0, then 1.1.0 (an image setting), then 1.2.0, the newest (a dev tool, and a stricter lint
rule), then a pre-release 1.3.0rc1 that neither copier nor fleet.py takes for the newest.
Twelve services start from 1.0.0, 1.1.0 or 1.2.0 with varied answers; some owners' edits
overlap the releases' changes, one owner's code breaks the stricter rule.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .commands import edit, run
from .git import commit
from .machine import COPIER, HOST_PYTHON, UV
from .template import Template, set_hash_seed

NEWEST = "1.2.0"
PRERELEASE = "1.3.0rc1"
# Rendered services run on a Python this machine has, so the hook locks and gates run here.
PYTHON = HOST_PYTHON

# ---------------------------------------------------------------- the template's releases

LINT_ANCHOR = '"T20", "TID", "UP", "W",'


def release_template(path: Path) -> Template:
    """This checkout released as 1.0.0, 1.1.0 and 1.2.0, then a 1.3.0rc1 candidate."""
    template = Template.from_checkout(path)
    template.release("1.0.0")
    template.set_fault_handler()
    template.release("1.1.0")
    template.add_dev_dependency("pytest-timeout>=2.3")
    template.edit("template/pyproject.toml.jinja", LINT_ANCHOR, '"DTZ", ' + LINT_ANCHOR)
    template.release(NEWEST)
    template.edit("template/.env.example.jinja", "LOG_LEVEL=info\n", "LOG_LEVEL=info\n# rc\n")
    template.release(PRERELEASE)
    return template


# ---------------------------------------------------------------- what owners do


def package_dir(project: Path) -> Path:
    return next(path for path in (project / "src").iterdir() if (path / "app.py").is_file())


def add_endpoint(project: Path) -> None:
    """An endpoint and its test: code the releases do not touch."""
    edit(
        package_dir(project) / "app.py",
        "\n    return app\n",
        '''
    @app.get("/team")
    async def team() -> dict[str, str]:
        """Who runs this service."""
        return {"team": "payments"}

    return app
''',
    )
    tests = project / "tests" / "test_app.py"
    tests.write_text(
        tests.read_text()
        + """

def test_team_names_the_owners(client: TestClient) -> None:
    assert client.get("/team").json() == {"team": "payments"}
"""
    )


def add_readme_note(project: Path) -> None:
    readme = project / "README.md"
    title, rest = readme.read_text().split("\n\n", 1)
    readme.write_text(f"{title}\n\nOn call: #payments-oncall.\n\n{rest}")


def add_pytest_mock(project: Path) -> None:
    """Where 1.2.0 adds pytest-timeout: an overlap."""
    run(UV, "add", "--dev", "--no-sync", "pytest-mock>=3.14", cwd=project)


def add_local_time(project: Path) -> None:
    """Naive local time: fine until 1.2.0 selects ruff's DTZ rules."""
    app = package_dir(project) / "app.py"
    edit(app, "import asyncio\n", "import asyncio\nimport datetime\n")
    edit(
        app,
        "\n    return app\n",
        '''
    @app.get("/time")
    async def local_time() -> dict[str, str]:
        """The server's clock."""
        return {"time": datetime.datetime.now().isoformat()}

    return app
''',
    )


# ---------------------------------------------------------------- the fleet


@dataclass(frozen=True)
class Member:
    """One service: where it starts, its answers, its owner's edits and the update's result."""

    name: str
    release: str
    answers: dict[str, Any] = field(default_factory=dict)
    edits: tuple[Callable[[Path], None], ...] = ()
    result: str = "updated"
    conflicts: tuple[str, ...] = ()

    @property
    def behind(self) -> int:
        return ("1.0.0", "1.1.0", NEWEST)[::-1].index(self.release)


MEMBERS = (
    Member("billing", "1.0.0"),
    Member("catalog", "1.0.0", {"python_source": "uv-managed", "entrypoint": "uv-run"}),
    Member("checkout", "1.1.0", {"venv_path": "/app/.venv", "services": ["postgres"]}),
    Member("search", "1.0.0", {"services": ["redis"], "ci": "gitlab"}, (add_endpoint,)),
    Member("ledger", "1.1.0", {"ci": "none"}, (add_readme_note,)),
    Member("orders", "1.0.0", {"services": ["postgres", "redis"]}, (add_endpoint,)),
    Member("shipping", "1.0.0", {}, (set_hash_seed,), "conflicts", ("Dockerfile",)),
    Member(
        "invoices", "1.1.0", {"ci": "gitlab"}, (add_pytest_mock,), "conflicts", ("pyproject.toml",)
    ),
    Member(
        "accounts",
        "1.0.0",
        {"python_source": "uv-managed", "ci": "gitlab", "venv_path": "/app/.venv"},
        (set_hash_seed, add_endpoint),
        "conflicts",
        ("Dockerfile",),
    ),
    Member("pricing", NEWEST, {}, (add_endpoint,), "up-to-date"),
    Member("profiles", NEWEST, {"entrypoint": "uv-run", "ci": "none"}, (), "up-to-date"),
    Member("clock", "1.1.0", {"python_source": "uv-managed"}, (add_local_time,), "gates-failed"),
)


def render_member(template: Template, root: Path, member: Member) -> Path:
    """`copier copy` at the member's release, the first commit, then the owner's edits."""
    project = root / member.name
    data = {"project_name": f"Acme {member.name.title()}", "python_version": PYTHON}
    data.update(member.answers)
    options = [
        option
        for key, value in data.items()
        for option in (
            "--data",
            f"{key}={value!r}" if isinstance(value, list) else f"{key}={value}",
        )
    ]
    run(
        COPIER,
        "copy",
        "--trust",
        "--defaults",
        "--vcs-ref",
        member.release,
        *options,
        template.path,
        project,
        cwd=root,
    )
    commit(project, f"Render the service from {member.release}")
    for change in member.edits:
        change(project)
    if member.edits:
        commit(project, "Owner edits")
    return project


def build_fleet(template: Template, root: Path, jobs: int = 2) -> dict[str, Path]:
    """Every member rendered and edited under `root`, by name."""
    root.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        paths = pool.map(lambda member: render_member(template, root, member), MEMBERS)
        return {member.name: path for member, path in zip(MEMBERS, paths, strict=True)}


def update_environment() -> dict[str, str]:
    """What scripts/template-update sees: this copier, no forge token (nothing is pushed)."""
    environment = {**os.environ, "COPIER": str(COPIER), "UV": str(UV)}
    environment.pop("TEMPLATE_UPDATE_TOKEN", None)
    return environment
