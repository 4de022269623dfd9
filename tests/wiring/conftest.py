"""Wiring fixtures: a real waitress portal on SQLite that a desktop database is paired with."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from portal.app import close_app, create_app
from tests.fixtures.portal import LiveServer, make_config, start_server
from vpanel_core.runtime import Database
from vpanel_core.sync.portal_side import PortalSync


@dataclass
class Portal:
    server: LiveServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def db(self) -> Database:
        database: Database = self.server.app.extensions["vpanel"].database
        return database

    def pairing_code(self) -> str:
        sync: PortalSync = self.server.app.extensions["vpanel_sync"]
        return sync.issue_pairing_code()


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    """The portal under waitress on loopback (its own SQLite file), stopped at teardown."""
    app = create_app(make_config(f"sqlite:///{tmp_path / 'portal.db'}"))
    server, stop = start_server(app)
    yield Portal(server)
    stop()
    close_app(app)
    app.extensions["vpanel"].database.engine.dispose()
