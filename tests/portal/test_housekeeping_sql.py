"""The portal housekeeper's statements, one per step whatever the number of rows
(vpanel_core/bulk_sql.py), on SQLite and PostgreSQL: which cached links changed, shared
rate-limit counts, drained access statistics, and whether the fleet changed."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.access_spool import AccessSpool
from portal.app import close_app, create_app
from tests.fixtures.portal import make_config, make_customer, make_node, with_limits
from tests.fixtures.smtp import Mailbox
from tests.fixtures.usage import record_usage
from vpanel_core.db import session_factory, transaction
from vpanel_core.models import Inbound, RateLimitCounter, Subscription, User
from vpanel_core.ratelimit import Limit
from vpanel_core.runtime import Database
from vpanel_core.services import ledger, subscriptions
from vpanel_core.services.subscriptions import Access
from vpanel_core.timeutil import utcnow

CLIENT = {"User-Agent": "v2rayNG/1.10.16"}
GB = 1 << 30


def settle(client: FlaskClient) -> None:
    client.application.extensions["vpanel"].lean.housekeeping()


def fetch(client: FlaskClient, token: str) -> int:
    return client.get(f"/api/subscription/{token}", headers=CLIENT).status_code


def test_a_round_drops_exactly_the_links_another_process_changed(client: FlaskClient, db: Database):
    make_node(db)
    names = ("disabled", "paid", "used", "regenerated", "untouched")
    people = {name: make_customer(db, f"{name}@example.com") for name in names}
    with transaction(db.sessions) as session:  # usage before: the change is to its bytes
        record_usage(session, people["used"].id, 1, 1)
    for person in people.values():
        assert [fetch(client, person.token) for _ in range(2)] == [200, 200]  # taken in
    index = client.application.extensions["vpanel"].lean.index
    settle(client)  # nothing changed: every fingerprint read matches the one recorded
    assert all(index.get("token", p.token) is not None for p in people.values())

    # Another process's commits: this one's commit hooks (`LeanServing.watch`) miss them.
    with transaction(session_factory(db.engine)) as session:
        disabled = session.get_one(User, people["disabled"].id)
        disabled.enabled = False
        paid = session.get_one(User, people["paid"].id)
        ledger.renew(session, paid, days=30, traffic_bytes=GB, source="payment")
        record_usage(session, people["used"].id, 10, 10)
        regenerated = session.get_one(User, people["regenerated"].id)
        fresh = subscriptions.regenerate(session, regenerated).token
    settle(client)

    kept = {name for name, p in people.items() if index.get("token", p.token) is not None}
    assert kept == {"untouched"}
    assert fetch(client, people["disabled"].token) == 403
    assert fetch(client, people["regenerated"].token) == 404
    assert fetch(client, fresh) == 200


@pytest.fixture
def two_portals(database: Database, smtp_server: Mailbox) -> Iterator[tuple[Flask, Flask]]:
    """Two portal apps with engines of their own on one database: two processes."""
    apps = [create_app(make_config(str(database.engine.url), smtp_server)) for _ in range(2)]
    yield apps[0], apps[1]
    for app in apps:
        close_app(app)
        app.extensions["vpanel"].database.engine.dispose()


def test_two_portals_share_fetch_counts_and_misses_through_the_database(
    two_portals: tuple[Flask, Flask], database: Database
):
    first, second = two_portals
    for app in two_portals:
        with_limits(app, subscription=Limit(5, 3600))
    make_node(database)
    alice = make_customer(database)
    a, b = first.test_client(), second.test_client()

    assert [fetch(a, alice.token) for _ in range(3)] == [200] * 3
    settle(a)
    assert [fetch(b, alice.token) for _ in range(2)] == [200] * 2
    settle(b)  # adds its 2 and learns the total over both: 5
    assert fetch(b, alice.token) == 429
    assert fetch(a, alice.token) == 200  # the first knows its own 3 until it syncs again
    settle(a)
    assert fetch(a, alice.token) == 429
    with transaction(database.sessions) as session:
        counted = session.scalar(
            select(func.sum(RateLimitCounter.count)).where(RateLimitCounter.key.startswith("sub:"))
        )
    assert counted == 6

    guesser = {"REMOTE_ADDR": "10.0.0.7"}
    miss = b.get("/api/subscription/" + "A" * 43, headers=CLIENT, environ_base=guesser)
    assert miss.status_code == 404
    lean = first.extensions["vpanel"].lean
    assert not lean.limiter.suspect("10.0.0.7")
    settle(a)  # learns the miss the other process counted
    assert lean.limiter.suspect("10.0.0.7")


def test_drained_accesses_add_up_and_the_newest_fetch_only_moves_forward(
    database: Database,
):
    alice, bob = (make_customer(database, f"{n}@example.com") for n in ("alice", "bob"))
    t0 = utcnow().replace(microsecond=123456)
    with transaction(database.sessions) as session:
        ids = {
            c.id: session.scalars(select(Subscription.id).filter_by(user_id=c.id)).one()
            for c in (alice, bob)
        }
        subscriptions.record_accesses(
            session,
            {
                ids[alice.id]: Access(3, t0, "10.0.0.1", "Clash/1"),
                ids[bob.id]: Access(1, t0, "10.0.0.2", "Stash"),
            },
        )
    with transaction(database.sessions) as session:  # late (a killed process's), and newer
        subscriptions.record_accesses(
            session,
            {
                ids[alice.id]: Access(2, t0 - timedelta(hours=1), "10.9.9.9", "old"),
                ids[bob.id]: Access(4, t0 + timedelta(microseconds=1), "2001:db8::1", '新 "x"'),
                uuid.uuid4(): Access(1, t0, "10.0.0.3", "a revoked link"),
            },
        )

    with transaction(database.sessions) as session:
        rows = {
            s.user_id: (s.access_count, s.last_access_at, s.last_access_ip, s.last_access_ua)
            for s in session.scalars(select(Subscription))
        }
    assert rows[alice.id] == (5, t0, "10.0.0.1", "Clash/1")
    assert rows[bob.id] == (5, t0 + timedelta(microseconds=1), "2001:db8::1", '新 "x"')


def test_one_flush_drains_every_thread_and_a_dead_process_exactly(
    database: Database, tmp_path: Path
):
    alice, bob = (make_customer(database, f"{n}@example.com") for n in ("alice", "bob"))
    with transaction(database.sessions) as session:
        ids = {
            c.id: session.scalars(select(Subscription.id).filter_by(user_id=c.id)).one()
            for c in (alice, bob)
        }
    directory = tmp_path / "spool"
    spool = AccessSpool(directory, lambda: transaction(database.sessions))
    t0 = utcnow()

    def fetches(n: int) -> None:
        for i in range(n):
            spool.record(ids[alice.id], "10.0.0.1", "Clash", t0 + timedelta(seconds=i))

    threads = [threading.Thread(target=fetches, args=(50,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spool.record(ids[bob.id], "10.0.0.2", "Stash", t0)
    newest = t0 + timedelta(hours=1)
    dead = [  # a killed process's file: two whole lines, then a torn one and unwritten bytes
        f"{ids[bob.id].hex}\t{newest.timestamp():.6f}\t10.0.0.9\tShadowrocket\n",
        f"{ids[alice.id].hex}\t{t0.timestamp():.6f}\t10.0.0.8\tv2rayNG\n",
        f"{ids[alice.id].hex}\t{t0.timestamp():.6f}\t10.0",
    ]
    (directory / "gone-1-00000000.spool").write_bytes("".join(dead).encode() + b"\0" * 64)

    assert spool.flush() == 203
    assert list(directory.iterdir()) == []
    assert spool.flush() == 0
    with transaction(database.sessions) as session:
        rows = {
            s.user_id: (s.access_count, s.last_access_ip)
            for s in session.scalars(select(Subscription))
        }
    assert rows == {alice.id: (201, "10.0.0.1"), bob.id: (2, "10.0.0.9")}


def test_the_fleet_is_rebuilt_when_a_node_or_inbound_changes_and_only_then(
    database: Database,
):
    make_node(database)
    with database.sessions() as session:
        first = subscriptions.fleet(session)
        assert subscriptions.fleet(session) is first
    with transaction(database.sessions) as session:
        inbound = session.scalars(select(Inbound).filter_by(tag="hy2")).one()
        inbound.settings = {**inbound.settings, "obfs_password": "ob2"}
    with database.sessions() as session:
        changed = subscriptions.fleet(session)
        assert subscriptions.fleet(session) is changed
    assert changed is not first
    [hy2] = [i for i in changed.nodes[0].inbounds if i.tag == "hy2"]
    assert hy2.settings["obfs_password"] == "ob2"
