"""Loopback HTTP: ports that parallel test workers never share, and plain requests."""

from __future__ import annotations

import fcntl
import json
import random
import socket
import tempfile
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import IO, Any

# Held for the life of this process: a claimed port stays this worker's until it exits.
_claims: list[IO[str]] = []


def ephemeral_ports() -> range:
    """The range the kernel hands out for port 0 and outgoing connections (Linux: 32768-60999)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def free_port() -> int:
    """A loopback port for a server that this test starts and that takes its port as a setting.

    Binding port 0 and closing the socket races: the kernel may hand the same port to another
    xdist worker, or to any outgoing connection, before the server binds it. So the port comes
    from below the ephemeral range, and a lock file claims it across the workers of the run.
    """
    ephemeral = ephemeral_ports()
    pool = range(20000, min(ephemeral.start, 32768))
    claims = Path(tempfile.gettempdir()) / "cus-test-ports"
    claims.mkdir(exist_ok=True)
    start = random.randrange(len(pool))
    for offset in range(len(pool)):
        port = pool[(start + offset) % len(pool)]
        claim = (claims / str(port)).open("w")
        try:
            fcntl.flock(claim, fcntl.LOCK_EX | fcntl.LOCK_NB)
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", port))
        except OSError:  # another worker holds it, or something listens there
            claim.close()
            continue
        _claims.append(claim)
        return port
    raise AssertionError(f"no free loopback port in {pool}")


def http_get(port: int, path: str, timeout: float = 5) -> tuple[int, str]:
    """GET http://127.0.0.1:PORT/PATH without any proxy; (status, body), error statuses included."""
    status, _, body = http_request(port, path, timeout=timeout)
    return status, body


def http_request(
    port: int,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    timeout: float = 5,
) -> tuple[int, dict[str, str], str]:
    """Like http_get, with a method and request headers; (status, headers lowercased, body)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    url = f"http://127.0.0.1:{port}{path}"
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with opener.open(request, timeout=timeout) as response:
            answer = response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        answer = error.code, error.headers, error.read().decode()
    status, received, body = answer
    return status, {name.lower(): value for name, value in received.items()}, body


def send_json(handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
    """Answer a loopback stand-in's request with a JSON body."""
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
