"""Billing test data: one customer and a plan to sell, on every database backend."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from vpanel_core.billing.config import BillingConfig
from vpanel_core.db import transaction
from vpanel_core.models import Plan, User
from vpanel_core.runtime import Database
from vpanel_core.services import plans, users

GiB = 1 << 30


@dataclass
class Shop:
    db: Database
    user: User
    plan: Plan

    def tx(self) -> Any:
        return transaction(self.db.sessions)


@pytest.fixture
def shop(database: Database) -> Shop:
    with transaction(database.sessions) as session:
        user = users.create_user(session, users.NewUser(username="alice", email="a@example.com"))
        plan = plans.create_plan(
            session,
            plans.NewPlan(
                name="Monthly",
                price_minor=500,
                currency="USD",
                duration_days=30,
                traffic_bytes=100 * GiB,
                node_groups=("eu",),
            ),
        )
    return Shop(database, user, plan)


def run_concurrently(db: Database, count: int, work: Callable[[Session], Any]) -> list[Any]:
    """Run `work` in `count` threads at once, each in its own session and transaction."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def worker(index: int) -> None:
        barrier.wait()
        try:
            with transaction(db.sessions) as session:
                results[index] = work(session)
        except Exception as exc:  # collected and asserted on by the test
            results[index] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results


@dataclass
class LivePortal:
    """The real portal app served over HTTP on a free loopback port."""

    app: Any
    url: str
    http: requests.Session
    csrf: str


@pytest.fixture
def live_portal(shop: Shop) -> Iterator[LivePortal]:
    from portal.app import close_app, create_app
    from portal.billing import configure
    from portal.config import PortalConfig
    from portal.session_auth import SESSION_COOKIE, issue

    config = PortalConfig(database_url="unused://", secret_key="s" * 40)
    app = create_app(config, database=shop.db)
    configure(app, BillingConfig())
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    token, claims = issue(config, shop.user)
    http = requests.Session()
    http.cookies.set(SESSION_COOKIE, token, domain="127.0.0.1")
    yield LivePortal(app, f"http://127.0.0.1:{server.server_port}", http, claims.csrf)
    http.close()
    close_app(app)
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()
