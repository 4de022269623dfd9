"""waitress as the portal runs it: keep-alive for bodiless answers, a quieter queue.

* waitress closes the connection after any HTTP/1.1 response without a Content-Length,
  and a 304 (or 204) must not carry one (RFC 9110 §8.6), so every "Not Modified" answer
  to a client that revalidates its subscription by ETag cost a new TCP connection (and
  behind a TLS proxy, a handshake). Such a response is complete without a length
  (RFC 9112 §6.3), so the connection stays open here.
* waitress warns "Task queue depth is N" for every request that waits for a worker
  thread: under sustained load a log record per request (its creation alone cost 6 % of
  the process), all saying the same. Here it is said at most once a minute, with the
  deepest queue and how many warnings were held back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from waitress import create_server
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import WSGITask

#: how often the task queue's depth may be reported
QUEUE_WARNING_SECONDS = 60.0


class QueueWarnings:
    """Stands in for the task dispatcher's `queue_logger`: one line per interval."""

    def __init__(
        self,
        logger: logging.Logger,
        seconds: float = QUEUE_WARNING_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._next = 0.0
        self._held = 0
        self._deepest = 0

    def warning(self, message: str, depth: int) -> None:
        """waitress calls `warning("Task queue depth is %d", depth)`."""
        now = self.clock()
        with self._lock:
            self._deepest = max(self._deepest, depth)
            if now < self._next:
                self._held += 1
                return
            held, deepest = self._held, self._deepest
            self._next, self._held, self._deepest = now + self.seconds, 0, 0
        if held:
            self.logger.warning(
                "%s (deepest %d; %d more such warnings in the last %.0f s)",
                message % depth,
                deepest,
                held,
                self.seconds,
            )
        else:
            self.logger.warning(message, depth)


class _KeepAliveTask(WSGITask):  # type: ignore[misc]
    def set_close_on_finish(self) -> None:
        # Called while the response header is built; for a bodiless HTTP/1.1 answer the
        # only reason left to close is the client asking for it.
        bodiless = not self.has_body and self.version == "1.1"
        if bodiless and self.request.headers.get("CONNECTION", "").lower() != "close":
            return
        super().set_close_on_finish()


class _KeepAliveChannel(HTTPChannel):  # type: ignore[misc]
    task_class = _KeepAliveTask


def create(app: Any, **settings: Any) -> Any:
    """Like `waitress.create_server`, with bodiless answers keeping their connection open."""
    server = create_server(app, **settings)
    server.task_dispatcher.queue_logger = QueueWarnings(logging.getLogger("waitress.queue"))
    # One listening socket, or several (a host name with IPv4 and IPv6 addresses).
    listeners = [server] if isinstance(server, BaseWSGIServer) else server.map.values()
    for listener in listeners:
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = _KeepAliveChannel
    return server


def serve(app: Any, **settings: Any) -> None:
    """Like `waitress.serve` (the logging set up by the caller), on `create`'s server."""
    server = create(app, **settings)
    server.print_listen("Serving on http://{}:{}")
    server.run()
