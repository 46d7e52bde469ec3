"""Logging: one JSON object per line (LOG_FORMAT=json) or readable text, with request IDs.

uvicorn applies `log_config` before it logs its first line, so its own loggers, the app's and
every exception's traceback use the same format.
"""

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
# A client's ID is kept only if it cannot garble a log line or a header.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# Paths whose successful requests the platform's probes make every few seconds.
PROBES = frozenset({"/health", "/ready"})

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Stamp each record with the ID of the request being served, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class QuietProbes(logging.Filter):
    """Drop uvicorn's access line for a successful probe; failed probes are still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn.access logs (client, method, path with query, HTTP version, status).
        match record.args:
            case (_, _, str(path), _, 200) if record.levelno <= logging.INFO:
                return path not in PROBES
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp (UTC), level, logger, message, request_id."""

    def format(self, record: logging.LogRecord) -> str:
        timestamp = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "timestamp": timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if identifier := getattr(record, "request_id", None):
            entry["request_id"] = identifier
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """Readable lines for a terminal, the request ID in brackets when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-8s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802
        line = super().formatMessage(record)
        identifier = getattr(record, "request_id", None)
        return f"{line} [{identifier}]" if identifier else line


def log_config(log_format: Literal["json", "text"], level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn: every logger writes to stdout."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": RequestIdFilter},
            "quiet_probes": {"()": QuietProbes},
        },
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        # uvicorn's loggers pass their records to the root logger's handler, and only it.
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True, "filters": ["quiet_probes"]},
        },
        "root": {"handlers": ["stdout"], "level": level.upper()},
    }


class RequestIdMiddleware:
    """Give each HTTP request an ID: the client's `X-Request-ID` if safe, else a new one.

    The ID is in every log line written while serving the request and in the response header.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        identifier = given if SAFE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        # Not reset afterwards: the server logs an unhandled exception after the app returns,
        # in this request's own task and context.
        request_id.set(identifier)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, identifier)
            await send(message)

        await self.app(scope, receive, send_with_id)


class RequestIdFastAPI(FastAPI):
    """FastAPI with RequestIdMiddleware outside Starlette's error handling: a 500 has the ID too."""

    def build_middleware_stack(self) -> ASGIApp:
        return RequestIdMiddleware(super().build_middleware_stack())
