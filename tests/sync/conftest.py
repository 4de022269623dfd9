"""Sync fixtures: a desktop (SQLite, change tracking on) and a portal app on each backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask

from portal.app import close_app, create_app
from tests.fixtures.portal import make_config
from vpanel_core import secretbox
from vpanel_core.runtime import Database, open_database
from vpanel_core.sync.client import SyncClient
from vpanel_core.sync.errors import PeerUnreachable
from vpanel_core.sync.portal_side import PortalSync
from vpanel_core.sync.transport import Reply

PORTAL_URL = "http://portal.test"


class FlaskTransport:
    """The client's transport over the Flask test client (no sockets), with fault hooks.

    `fail` is called with (method, path, phase) before sending and after the portal
    answered; raising there simulates a crash or a dropped connection at that point.
    """

    def __init__(self, app: Flask) -> None:
        self.http = app.test_client()
        self.fail: Callable[[str, str, str], None] = lambda _m, _p, _phase: None
        self.offline = False
        self.sent: list[str] = []

    def send(
        self, method: str, url: str, *, body: bytes | None = None, headers: dict[str, str]
    ) -> Reply:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if self.offline:
            raise PeerUnreachable("portal unreachable: offline")
        self.fail(method, parts.path, "before")
        response = self.http.open(path, method=method, data=body, headers=headers)
        self.sent.append(parts.path)
        self.fail(method, parts.path, "after")
        is_json = response.mimetype == "application/json"
        return Reply(
            response.status_code, response.get_data(), response.get_json() if is_json else None
        )


@dataclass
class Pair:
    desktop: Database
    portal: Database
    app: Flask
    client: SyncClient
    transport: FlaskTransport

    @property
    def portal_sync(self) -> PortalSync:
        sync: PortalSync = self.app.extensions["vpanel_sync"]
        return sync

    def pair(self) -> None:
        self.client.pair(PORTAL_URL, self.portal_sync.issue_pairing_code())


@pytest.fixture
def desktop_db(tmp_path: Path) -> Iterator[Database]:
    db = open_database(f"sqlite:///{tmp_path / 'desktop.db'}")
    yield db
    db.engine.dispose()


@pytest.fixture
def portal_app(database: Database) -> Iterator[Flask]:
    app = create_app(make_config(str(database.engine.url)), database=database)
    app.testing = True
    yield app
    close_app(app)


@pytest.fixture
def sync_pair(desktop_db: Database, database: Database, portal_app: Flask, tmp_path: Path) -> Pair:
    """Desktop and portal, not yet paired; small pages so paging is exercised."""
    transport = FlaskTransport(portal_app)
    box = secretbox.load(tmp_path, use_keyring=False)
    client = SyncClient(
        desktop_db, box, transport=transport, page_size=7, delta_limit=11, events_page=5
    )
    return Pair(desktop_db, database, portal_app, client, transport)


@pytest.fixture
def paired(sync_pair: Pair) -> Pair:
    sync_pair.pair()
    return sync_pair
