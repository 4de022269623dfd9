"""kill -9 of a real portal process in the middle of payments and of access-stat writes:
after a restart (and Stripe's redelivery) nothing acknowledged is lost, nothing is
applied twice, and the database is consistent."""

from __future__ import annotations

import concurrent.futures
import sqlite3
import threading

import requests

from tests.fixtures.portal import make_customer
from tests.fixtures.portal_process import PortalProcess
from tests.reliability.shop import (
    Hammer,
    books,
    client_ip,
    deliver,
    new_plan,
    paid_events,
    paid_order_refs,
    wait_for,
)
from vpanel_core.db import transaction
from vpanel_core.models import Subscription
from vpanel_core.runtime import open_database

ORDERS = 60


def test_kill_during_webhook_deliveries_then_redelivery_pays_each_order_once(
    portal_process: PortalProcess,
):
    portal_process.start()
    db = open_database(portal_process.database_url)
    events = paid_events(db, new_plan(db), ORDERS)
    acknowledged: set[str] = set()
    lock = threading.Lock()
    enough = threading.Event()

    def first_delivery(event: dict) -> None:
        if deliver(portal_process.url, event) == 200:
            with lock:
                acknowledged.add(event["data"]["object"]["id"])
                if len(acknowledged) >= ORDERS // 4:
                    enough.set()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        pending = [pool.submit(first_delivery, e) for e in events]
        assert enough.wait(60), "no deliveries were acknowledged"
        portal_process.kill()  # mid-stream: some in flight, some not yet sent
        concurrent.futures.wait(pending)
    before_restart = paid_order_refs(db)
    portal_process.start()
    # Stripe redelivers every event it has no 2xx for; we redeliver all of them, twice, at once.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda e: deliver(portal_process.url, e), events * 2))
    after = books(db)
    db.engine.dispose()

    assert acknowledged <= before_restart, "a payment acknowledged to Stripe was lost"
    assert len(before_restart) < ORDERS, "the kill came too late to test anything"
    assert statuses == [200] * (2 * ORDERS)
    assert after.orders_paid == after.payments == after.events == ORDERS
    assert len(after.grants_per_order) == ORDERS
    assert set(after.grants_per_order.values()) == {1}


def access_count(database_path: str, subscription_token: str) -> int:
    with sqlite3.connect(database_path, timeout=30) as conn:
        row = conn.execute(
            "SELECT access_count FROM subscriptions WHERE token = ?", (subscription_token,)
        ).fetchone()
    return int(row[0])


def test_kill_during_subscription_fetches_keeps_every_counted_access(
    portal_process: PortalProcess,
):
    portal_process.env["VPANEL_TRUSTED_PROXY_HOPS"] = "1"
    portal_process.start()
    db = open_database(portal_process.database_url)
    alice = make_customer(db, "alice@example.com")
    url = f"{portal_process.url}/api/subscription/{alice.token}"
    path = portal_process.database_url.removeprefix("sqlite:///")

    def fetch(_index: int) -> int:
        try:
            return requests.get(url, headers=client_ip(), timeout=30).status_code
        except requests.RequestException:
            return 0

    samples = [access_count(path, alice.token)]
    hammer = Hammer(fetch, threads=6).start()
    try:
        wait_for(lambda: hammer.count(200) >= 100, 60, "100 fetches")
        samples.append(access_count(path, alice.token))
        portal_process.kill()
        served_before_kill = hammer.count(200)
        samples.append(access_count(path, alice.token))
        portal_process.start()  # drains the killed process's spool before it answers
        after_restart = access_count(path, alice.token)
        wait_for(lambda: hammer.count(200) >= served_before_kill + 100, 60, "fetches after restart")
        samples.append(access_count(path, alice.token))
    finally:
        hammer.stop()
    answered = hammer.count(200)
    # Spooled fetches reach the database within seconds (portal/serving.py SPOOL_SECONDS).
    wait_for(lambda: access_count(path, alice.token) >= answered, 10, "the spool drained")
    samples.append(access_count(path, alice.token))
    with sqlite3.connect(path) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    with transaction(db.sessions) as session:
        sub = session.query(Subscription).filter_by(token=alice.token).one()
        last_ua = sub.last_access_ua
    db.engine.dispose()

    assert samples == sorted(samples), f"access_count went down: {samples}"
    assert after_restart >= served_before_kill, "a fetch answered 200 was not counted"
    assert samples[-1] >= answered  # every answered fetch counted
    assert samples[-1] <= sum(hammer.statuses.values())  # and none counted twice
    assert set(hammer.statuses) <= {200, 0}, hammer.statuses  # only dropped connections
    assert integrity == "ok"
    assert last_ua.startswith("python-requests")
    assert requests.get(f"{portal_process.url}/healthz", timeout=5).status_code == 200
