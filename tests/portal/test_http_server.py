"""The portal's waitress keeps a client's connection open across "Not Modified" answers
(plain waitress closes it after every response that has no Content-Length)."""

from __future__ import annotations

import http.client
import logging
from urllib.parse import urlsplit

import pytest

from portal.http_server import QueueWarnings
from tests.fixtures.portal import LiveServer, make_customer, make_node

CLIENT = {"User-Agent": "clash.meta/1.19.0"}


def test_revalidating_client_keeps_one_connection_across_304_answers(
    live_portal: LiveServer,
) -> None:
    db = live_portal.app.extensions["vpanel"].database
    make_node(db)
    alice = make_customer(db)
    address = urlsplit(live_portal.url)
    conn = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    path = f"/api/subscription/{alice.token}"
    try:
        conn.request("GET", path, headers=CLIENT)
        first = conn.getresponse()
        assert first.status == 200 and first.read()
        etag = first.getheader("ETag")
        assert etag
        sock = conn.sock
        for _ in range(4):  # full path, then taken into memory, then answered from memory
            conn.request("GET", path, headers={**CLIENT, "If-None-Match": etag})
            answer = conn.getresponse()
            assert answer.status == 304 and answer.read() == b""
            assert answer.getheader("Connection") != "close"
            assert answer.getheader("ETag") == etag
        conn.request("GET", path, headers=CLIENT)
        last = conn.getresponse()
        assert last.status == 200 and last.read()
        assert conn.sock is sock  # never reconnected
        conn.request("GET", path, headers={**CLIENT, "If-None-Match": etag, "Connection": "close"})
        closing = conn.getresponse()
        assert closing.status == 304 and closing.getheader("Connection") == "close"
    finally:
        conn.close()


def test_queue_depth_warnings_are_said_once_a_minute_with_what_was_held_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    warnings = QueueWarnings(logging.getLogger("waitress.queue"), 60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "waitress.queue"):
        for depth in [*range(1, 300), 40]:  # a busy minute: a warning per queued request
            warnings.warning("Task queue depth is %d", depth)
            now[0] += 0.1
        now[0] += 60
        warnings.warning("Task queue depth is %d", 7)
    assert [r.getMessage() for r in caplog.records] == [
        "Task queue depth is 1",
        "Task queue depth is 7 (deepest 299; 299 more such warnings in the last 60 s)",
    ]
