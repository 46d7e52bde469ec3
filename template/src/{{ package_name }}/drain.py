"""Graceful drain: on SIGTERM `/ready` answers 503 while the requests in flight finish.

The server keeps listening during the drain, so a load balancer sees the 503 and sends no
more traffic; then the server stops as it would have at once.
"""

import asyncio
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from functools import partial
from types import FrameType
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

Handler = Callable[[int, FrameType | None], Any] | int | None


def _pass_on(handler: Handler, signum: int, frame: FrameType | None) -> None:
    """Deliver the signal to the handler the drain replaced (uvicorn's, in a server)."""
    if callable(handler):
        handler(signum, frame)
    elif handler is not None:
        signal.signal(signum, handler)
        signal.raise_signal(signum)


class Drain:
    """Counts the HTTP requests in flight; on SIGTERM waits for them, at most `timeout` s."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.draining = False
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def enter(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def leave(self) -> None:
        self.in_flight -= 1
        if not self.in_flight:
            self._idle.set()

    @contextmanager
    def on_sigterm(self) -> Iterator[None]:
        """While the app runs, take SIGTERM over from the server; a second one stops at once."""
        if threading.current_thread() is not threading.main_thread():
            yield  # only the main thread handles signals: not a server (a test client, say)
            return
        loop = asyncio.get_running_loop()
        previous: Handler = signal.getsignal(signal.SIGTERM)

        def handle(signum: int, frame: FrameType | None) -> None:
            if self.draining:
                _pass_on(previous, signum, frame)
                return
            self.draining = True
            loop.call_soon_threadsafe(self._start, partial(_pass_on, previous, signum, frame))

        signal.signal(signal.SIGTERM, handle)
        try:
            yield
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    @asynccontextmanager
    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        """The app's lifespan: the drain handles SIGTERM while the app runs."""
        with self.on_sigterm():
            yield

    def _start(self, stop: Callable[[], None]) -> None:
        self._task = asyncio.get_running_loop().create_task(self.wait_then(stop))

    async def wait_then(self, stop: Callable[[], None]) -> None:
        """Wait until no request is in flight or the timeout passes, then call `stop`."""
        logger.info("SIGTERM: draining %d request(s) in flight", self.in_flight)
        with suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self.timeout)
        if self.in_flight:
            logger.warning("drain timeout: stopping with %d request(s) in flight", self.in_flight)
        stop()


class CountInFlight:
    """Pure ASGI middleware: counts the requests in flight for the drain."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.drain.enter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.drain.leave()
