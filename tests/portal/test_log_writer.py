"""The portal's background log writer: every line arrives, formatted, with tracebacks,
and nothing queued is lost when the portal stops."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.log_writer import move_to_background

FORMAT = "%(levelname)s %(name)s: %(message)s"


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("test.log_writer")
    log.setLevel(logging.INFO)
    log.propagate = False
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)


def test_lines_from_many_threads_all_arrive_in_each_threads_order(
    logger: logging.Logger,
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    writer = move_to_background(logger)

    def fetches(thread: int) -> None:
        for n in range(500):
            logger.info("GET /sub/%s %d", thread, n)

    threads = [threading.Thread(target=fetches, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.stop()

    lines = stream.getvalue().splitlines()
    assert len(lines) == 8 * 500
    assert all(line.startswith("INFO test.log_writer: GET /sub/") for line in lines)
    for thread in range(8):
        mine = [int(line.rsplit(" ", 1)[1]) for line in lines if f"/sub/{thread} " in line]
        assert mine == list(range(500))


def test_tracebacks_levels_and_file_handlers(logger: logging.Logger, tmp_path: Path) -> None:
    path = tmp_path / "portal.log"
    to_file = logging.FileHandler(path, delay=True)
    to_file.setFormatter(logging.Formatter(FORMAT))
    warnings_only = io.StringIO()
    to_stream = logging.StreamHandler(warnings_only)
    to_stream.setLevel(logging.WARNING)
    logger.addHandler(to_file)
    logger.addHandler(to_stream)
    writer = move_to_background(logger)
    logger.info("portal on http://127.0.0.1:%d", 8080)
    try:
        raise ValueError("database went away")
    except ValueError:
        logger.exception("housekeeping failed")
    writer.stop()
    to_file.close()

    text = path.read_text()
    assert "INFO test.log_writer: portal on http://127.0.0.1:8080" in text
    assert "ERROR test.log_writer: housekeeping failed" in text
    assert "ValueError: database went away" in text
    assert "portal on" not in warnings_only.getvalue()
    assert "housekeeping failed" in warnings_only.getvalue()
