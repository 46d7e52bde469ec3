"""A stand-in for the OSV API that `uv audit` queries, served on loopback."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .http import send_json


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
                send_json(self, status, payload)

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
