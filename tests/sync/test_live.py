"""Over real HTTP: a waitress portal on loopback, the sync loop, node pulls, outages."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select
from waitress import wasyncore

from portal.http_server import create as create_server
from tests.fixtures.ports import free_port
from tests.sync.conftest import Pair
from tests.sync.test_faults import assert_converged
from tests.sync.world import register_and_pay, seed_desktop
from vpanel_core import secretbox
from vpanel_core.models import Node, User
from vpanel_core.runtime import Database
from vpanel_core.sync.client import SyncClient
from vpanel_core.sync.loop import SyncLoop
from vpanel_core.sync.node_tokens import pull_token
from vpanel_core.sync.transport import HttpTransport


class Portal:
    """waitress serving the app on a fixed port, so it can be stopped and started again."""

    def __init__(self, app: Flask) -> None:
        self.app, self.port = app, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop: Callable[[], None] | None = None

    def start(self) -> None:
        server = create_server(self.app, host="127.0.0.1", port=self.port, threads=4)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()

        def stop() -> None:
            # Like the process dying: the listener and every open connection go away.
            # Closed from inside the server's own loop (no race with its select()).
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
            thread.join(timeout=10)
            server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
            assert not thread.is_alive()

        self._stop = stop
        wait_for(lambda: _healthy(self.url), "portal up")

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def portal_user_count(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(User)) or 0)


@pytest.fixture
def live(portal_app: Flask) -> Iterator[Portal]:
    portal = Portal(portal_app)
    portal.start()
    yield portal
    portal.stop()


@pytest.fixture
def http_pair(sync_pair: Pair, live: Portal, tmp_path: Path) -> Iterator[Pair]:
    transport = HttpTransport(timeout=5)
    box = secretbox.load(tmp_path, use_keyring=False)
    sync_pair.client = SyncClient(sync_pair.desktop, box, transport=transport, page_size=10)
    sync_pair.client.pair(live.url, sync_pair.portal_sync.issue_pairing_code())
    yield sync_pair
    transport.close()


def test_loop_survives_the_portal_stopping_mid_snapshot_and_converges(
    http_pair: Pair, live: Portal
) -> None:
    seed_desktop(http_pair.desktop, n_users=150)
    loop = SyncLoop(http_pair.client, interval=0.1, max_backoff=0.5)
    loop.start()
    try:
        wait_for(lambda: portal_user_count(http_pair.portal) >= 20, "first pages")
        live.stop()
        wait_for(lambda: loop.status.state == "offline", "loop notices the outage")
        assert portal_user_count(http_pair.portal) < 150
        assert loop.status.error_code == "SYNC_PEER_UNREACHABLE"
        live.start()
        loop.sync_now()
        wait_for(lambda: loop.status.state == "ok" and loop.status.pending == 0, "recovery")
    finally:
        loop.stop()
    assert_converged(http_pair)


def test_customer_paying_while_desktop_is_off_is_served_by_the_node_pull(
    http_pair: Pair, live: Portal
) -> None:
    seed_desktop(http_pair.desktop, n_users=2)
    http_pair.client.sync_once()
    customer = register_and_pay(http_pair.portal, "night@example.org")
    with http_pair.desktop.sessions() as session:
        node = session.scalar(select(Node))
        assert node is not None
        node_id = str(node.id)
    response = requests.get(
        f"{live.url}/api/node/entitlements",
        headers={"X-Node-Id": node_id, "Authorization": f"Bearer {pull_token('node-api-secret')}"},
        timeout=5,
    )
    assert response.status_code == 200
    entitled = {u["user_id"]: u for u in response.json()["users"]}
    with http_pair.portal.sessions() as session:
        user = session.get(User, customer)
        assert user is not None
        assert entitled[str(customer)]["uuid"] == str(user.credential)
        assert entitled[str(customer)]["password"] == user.proxy_secret
    wrong = requests.get(
        f"{live.url}/api/node/entitlements",
        headers={"X-Node-Id": node_id, "Authorization": "Bearer guessed"},
        timeout=5,
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == "NODE_AUTH_FAILED"


def test_loop_reports_not_paired_and_stops_cleanly(sync_pair: Pair) -> None:
    loop = SyncLoop(sync_pair.client, interval=0.05)
    loop.start()
    wait_for(lambda: loop.attempts >= 2, "two attempts")
    loop.stop()
    assert loop.status.state == "not_paired"
