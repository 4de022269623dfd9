"""PostgreSQL restarts under a running portal: it answers again within seconds (stale
pooled connections are replaced, pool_pre_ping) and no acknowledged write is lost."""

from __future__ import annotations

import time

import requests

from tests.fixtures.portal import make_customer
from tests.fixtures.portal_process import PortalProcess
from tests.fixtures.private_postgres import PrivatePostgres
from tests.reliability.shop import (
    Hammer,
    books,
    client_ip,
    deliver,
    new_plan,
    paid_events,
    wait_for,
)
from vpanel_core.db import transaction
from vpanel_core.models import Subscription
from vpanel_core.runtime import open_database

RECOVERY_SECONDS = 5


def test_portal_answers_again_after_postgres_restarts_and_loses_nothing(
    portal_process: PortalProcess, private_postgres: PrivatePostgres
):
    portal_process.database_url = private_postgres.url
    portal_process.env["VPANEL_TRUSTED_PROXY_HOPS"] = "1"
    portal_process.start()
    db = open_database(private_postgres.url)
    alice = make_customer(db, "alice@example.com")
    events = paid_events(db, new_plan(db), 40)
    url = f"{portal_process.url}/api/subscription/{alice.token}"

    def fetch(_index: int) -> int:
        try:
            return requests.get(url, headers=client_ip(), timeout=30).status_code
        except requests.RequestException:
            return 0

    before = [deliver(portal_process.url, e) for e in events[:20]]
    hammer = Hammer(fetch, threads=4).start()
    try:
        wait_for(lambda: hammer.count(200) >= 50, 60, "fetches before the restart")
        db.engine.dispose()
        private_postgres.restart()
        back_at = time.monotonic()
        while fetch(0) != 200:
            assert time.monotonic() - back_at < RECOVERY_SECONDS, portal_process.log.read_text()[
                -3000:
            ]
            time.sleep(0.05)
        recovered_in = time.monotonic() - back_at
        answered = hammer.count(200)
        wait_for(lambda: hammer.count(200) >= answered + 50, 30, "fetches after the restart")
    finally:
        hammer.stop()
    after = [deliver(portal_process.url, e) for e in events]  # the rest, and redeliveries
    served = hammer.count(200)
    steady = [fetch(0) for _ in range(30)]
    totals = books(db)

    def accesses() -> int:
        with transaction(db.sessions) as session:
            return session.query(Subscription).filter_by(user_id=alice.id).one().access_count

    wait_for(lambda: accesses() >= served + 30, 15, "spooled fetches written")  # SPOOL_SECONDS
    count = accesses()
    db.engine.dispose()

    print(f"portal answered {recovered_in:.2f} s after PostgreSQL was back; {hammer.statuses}")
    assert before == [200] * 20 and after == [200] * 40 and steady == [200] * 30
    assert totals.orders_paid == totals.payments == 40 and set(
        totals.grants_per_order.values()
    ) == {1}
    assert count >= served + 30  # every fetch answered 200 was counted
    assert not set(hammer.statuses) - {200, 503}, hammer.statuses  # outage: 503, not 500
