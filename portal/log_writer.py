"""Log records leave request threads through a queue and reach the handlers in batches.

Every subscription fetch writes an access-log line. Written by the request thread, each
line is a `write(2)` that releases the GIL, and getting it back behind the other busy
worker threads cost more than answering the fetch (bench_serving: about a quarter of
the throughput). Here a request thread only formats and enqueues; one writer thread
drains whatever has queued up and hands it to the real handlers, flushing each stream
once per batch instead of once per line.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from logging.handlers import QueueHandler
from typing import Any

#: the most records handled between two flushes
BATCH = 2048


class BatchWriter:
    """The one thread that writes the records the root logger's `QueueHandler` queued."""

    def __init__(self, handlers: list[logging.Handler]) -> None:
        self.queue: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
        self.handlers = handlers
        self._thread = threading.Thread(target=self._run, name="vpanel-log-writer", daemon=True)

    def start(self) -> BatchWriter:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        self.queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            first = self.queue.get()
            batch = [first]
            while len(batch) < BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            if not self._drain(batch):
                return

    def _drain(self, batch: list[logging.LogRecord | None]) -> bool:
        """Handle a batch; False once the stop mark was in it."""
        records = [r for r in batch if r is not None]
        for handler in self.handlers:
            wanted = [r for r in records if r.levelno >= handler.level and handler.filter(r)]
            if not wanted:
                continue
            if type(handler) in (logging.StreamHandler, logging.FileHandler):
                _write_batch(handler, wanted)
            else:
                for record in wanted:
                    handler.handle(record)
        return len(records) == len(batch)


def _write_batch(handler: Any, records: list[logging.LogRecord]) -> None:
    """One write and one flush for the batch (a `FileHandler` opened lazily opens here);
    plain stream and file handlers only: subclasses (rotation) keep their own `emit`."""
    try:
        text = "".join(handler.format(r) + handler.terminator for r in records)
        with handler.lock or contextlib.nullcontext():
            if handler.stream is None and isinstance(handler, logging.FileHandler):
                handler.stream = handler._open()
            handler.stream.write(text)
            handler.stream.flush()
    except Exception:
        handler.handleError(records[-1])


def tune_logging() -> None:
    """The logging module's documented optimizations for what the portal never logs:
    no caller lookup (a frame walk per record), no thread or process names."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def move_to_background(logger: logging.Logger | None = None) -> BatchWriter:
    """Replace `logger`'s (default: root's) handlers by a queue feeding a `BatchWriter`."""
    logger = logger or logging.getLogger()
    writer = BatchWriter(list(logger.handlers)).start()
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.addHandler(QueueHandler(writer.queue))
    return writer
