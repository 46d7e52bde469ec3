"""The backing-services catalogue (includes/services.yml) is all a new service needs."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from copier import run_copy

from .support import Template, answers, run, tool

# A service the template does not offer, written as the catalogue's header describes an entry.
RABBITMQ = '''
    rabbitmq:
      title: RabbitMQ
      image: rabbitmq:4
      environment:
        RABBITMQ_DEFAULT_USER: app
        RABBITMQ_DEFAULT_PASS: app
      volume: /var/lib/rabbitmq
      healthcheck: [rabbitmq-diagnostics, --quiet, ping]
      start_period: 20s
      env: AMQP_URL
      url: amqp://app:app@localhost:5672/
      requirements: [aio-pika>=9.5]
      imports: [import aio_pika]
      check: |
        """Open a connection and a channel."""
        connection = await aio_pika.connect(url)
        async with connection:
            await connection.channel()
'''


def test_a_catalogue_entry_is_all_a_new_backing_service_needs(tmp_path: Path) -> None:
    template = Template.from_checkout(tmp_path / "template")
    catalogue = template.path / "includes" / "services.yml"
    catalogue.write_text(catalogue.read_text().rstrip("\n") + "\n" + RABBITMQ)
    template.release("1.0.0")
    project = tmp_path / "service"
    data = {**answers("defaults"), "services": ["postgres", "rabbitmq"], "deploy": "kubernetes"}
    run_copy(str(template.path), project, data=data, defaults=True, unsafe=True, skip_tasks=True)

    compose = yaml.safe_load((project / "compose.yaml").read_text())
    assert compose["services"]["rabbitmq"]["image"] == "rabbitmq:4"
    assert compose["services"]["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_USER"] == "app"
    assert compose["services"]["rabbitmq"]["volumes"] == ["rabbitmq-data:/var/lib/rabbitmq"]
    health = compose["services"]["rabbitmq"]["healthcheck"]
    assert health["test"] == ["CMD", "rabbitmq-diagnostics", "--quiet", "ping"]
    assert health["start_period"] == "20s"
    app = compose["services"]["app"]
    assert app["environment"]["AMQP_URL"] == "amqp://app:app@rabbitmq:5672/"
    assert app["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}
    assert set(compose["volumes"]) == {"postgres-data", "rabbitmq-data"}

    package = project / "src" / "acme_payments_api"
    settings = (package / "settings.py").read_text()
    assert '    amqp_url: str = "amqp://app:app@localhost:5672/"\n' in settings
    assert "AMQP_URL=amqp://app:app@localhost:5672/\n" in (project / ".env.example").read_text()
    checks = (package / "checks.py").read_text()
    assert "\nimport aio_pika\nimport psycopg\n" in checks
    assert "async def check_rabbitmq(url: str) -> None:\n" in checks
    assert '"rabbitmq": partial(check_rabbitmq, settings.amqp_url),' in checks
    tests = (project / "tests" / "test_app.py").read_text()
    assert '"amqp_url": "amqp://app:app@127.0.0.1:1/",' in tests
    assert 'monkeypatch.setattr(checks, "check_rabbitmq", reachable)' in tests

    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    dependencies = pyproject["project"]["dependencies"]
    assert dependencies[0] == "aio-pika>=9.5", "in alphabetical order"
    readme = (project / "README.md").read_text()
    row = "| `AMQP_URL` | `amqp://app:app@localhost:5672/` | RabbitMQ checked by `/ready` |"
    assert row in readme
    assert "--from-literal=AMQP_URL=..." in readme
    deployment = (project / "deploy/kubernetes/base/deployment.yaml").read_text()
    assert "key: AMQP_URL" in deployment

    # The check from the catalogue lands as the service's own code: lint-clean and formatted.
    ruff = tool("ruff")
    run(ruff, "check", "--no-cache", "src", "tests", cwd=project)
    run(ruff, "format", "--no-cache", "--check", "src", "tests", cwd=project)
