"""tracing=true: the served app sends its spans to an OTLP/HTTP collector the OTEL_* variables name.

The collector is a loopback HTTP server in this process; the rendered project's own venv
(opentelemetry-proto comes with the exporter) decodes what it received.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from .support import (
    PYTHON_VERSIONS,
    UV,
    edit,
    free_port,
    http_get,
    http_request,
    newest_local_python,
    render_into,
    run,
)

pytestmark = pytest.mark.slow

SLUG = "acme-payments-api"
REQUEST_ID = "otlp-check-42"
ROUTE = """
    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    return app
"""
DECODE = """
import json, sys
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

def plain(attributes):
    return {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in attributes}

for path in sys.argv[1:]:
    with open(path, "rb") as body:
        request = ExportTraceServiceRequest.FromString(body.read())
    for resource_spans in request.resource_spans:
        resource = plain(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                attributes = plain(span.attributes)
                print(json.dumps({"service": resource["service.name"], "name": span.name,
                                  "kind": span.kind, "attributes": attributes}))
"""
SPAN_KIND_SERVER = 2


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A loopback OTLP/HTTP collector: its endpoint, and the (path, content type, body) it got."""
    received: list[tuple[str, str, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append((self.path, self.headers.get("Content-Type", ""), body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def traced_service(
    copier_template: Path, tmp_path_factory: pytest.TempPathFactory, isolated_tools: dict[str, str]
) -> Path:
    """A tracing=true render on the newest local Python, synced, with a route that has a
    path parameter (the health probes are not traced)."""
    newest = newest_local_python(PYTHON_VERSIONS)
    project = render_into(
        copier_template,
        tmp_path_factory.mktemp("tracing") / "service",
        {"project_name": "Acme Payments API", "python_version": newest, "tracing": True},
    )
    edit(project / "src" / "acme_payments_api" / "app.py", "\n    return app\n", ROUTE)
    run(UV, "sync", "--locked", cwd=project, timeout=900)
    return project


@contextmanager
def serving(project: Path, **variables: str) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """The service's own command from its venv, on a free loopback port, with OTEL_* given."""
    port = free_port()
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("OTEL_")},
        "PORT": str(port),
        "LOG_FORMAT": "json",
        **variables,
    }
    with subprocess.Popen(
        [project / ".venv" / "bin" / SLUG],
        cwd=project,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    if http_get(port, "/health")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.2)
            yield port, process
        finally:
            if process.poll() is None:
                process.kill()


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM, as `docker stop` sends it; the exit code and everything the process wrote."""
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    return process.returncode, output


def test_a_request_reaches_the_collector_with_its_route_and_request_id(
    traced_service: Path, tmp_path: Path
) -> None:
    # Spans leave only at stop (a 10-minute batch delay): the flush at shutdown sends them.
    with (
        otlp_receiver() as (endpoint, received),
        serving(
            traced_service, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_BSP_SCHEDULE_DELAY="600000"
        ) as (port, process),
    ):
        status, headers, _ = http_request(port, "/items/42", headers={"X-Request-ID": REQUEST_ID})
        assert (status, headers["x-request-id"]) == (200, REQUEST_ID)
        assert http_get(port, "/health")[0] == 200
        assert not received, "spans left before the stop despite the long batch delay"
        code, output = stop(process)
    assert code == 0, output
    assert received, f"the collector got nothing\n{output}"
    assert {(path, kind) for path, kind, _ in received} == {
        ("/v1/traces", "application/x-protobuf")
    }
    bodies = []
    for index, (_, _, body) in enumerate(received):
        bodies.append(tmp_path / f"export-{index}.bin")
        bodies[-1].write_bytes(body)
    python = traced_service / ".venv" / "bin" / "python"
    decoded = run(python, "-c", DECODE, *bodies, cwd=tmp_path).stdout
    spans = [json.loads(line) for line in decoded.splitlines()]
    server_spans = [span for span in spans if span["kind"] == SPAN_KIND_SERVER]
    assert [span["name"] for span in server_spans] == ["GET /items/{item_id}"], spans
    (span,) = server_spans
    assert span["service"] == SLUG
    assert span["attributes"]["http.route"] == "/items/{item_id}"
    assert span["attributes"]["http.request_id"] == REQUEST_ID
    assert "42" not in span["name"]


def test_without_an_endpoint_tracing_is_off_and_silent(traced_service: Path) -> None:
    with serving(traced_service) as (port, process):
        assert http_get(port, "/items/7")[0] == 200
        code, output = stop(process)
    assert code == 0, output
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines, "the server wrote nothing"
    assert {line["level"] for line in lines} == {"INFO"}, output
    assert not [line for line in lines if "opentelemetry" in line["logger"]], output


def test_an_unreachable_collector_does_not_hold_the_stop(traced_service: Path) -> None:
    # Nothing listens there: the exporter would retry for OTEL_EXPORTER_OTLP_TIMEOUT (10 s).
    endpoint = f"http://127.0.0.1:{free_port()}"
    with serving(traced_service, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint) as (port, process):
        assert http_get(port, "/items/7")[0] == 200
        started = time.monotonic()
        code, output = stop(process)
        took = time.monotonic() - started
    assert code == 0, output
    assert took < 4, f"the stop took {took:.1f} s\n{output}"
