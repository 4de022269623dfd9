"""Many writers on one SQLite file: the portal's waitress threads (payments, access
stats) plus other processes granting time, all at once. No "database is locked" may
reach a user and every write must land."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
import textwrap

import requests

from tests.fixtures.portal import make_customer
from tests.fixtures.portal_process import PortalProcess
from tests.reliability.shop import books, client_ip, deliver, new_plan, paid_events, wait_for
from vpanel_core.db import transaction
from vpanel_core.models import Subscription
from vpanel_core.runtime import open_database

WRITER = textwrap.dedent(
    """
    import sys, uuid
    from vpanel_core.db import transaction
    from vpanel_core.entitlement import GrantKind
    from vpanel_core.runtime import open_database
    from vpanel_core.services import ledger

    db = open_database(sys.argv[1], run_migrations=False)
    user_id, worker, count = uuid.UUID(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    for n in range(count):
        with transaction(db.sessions) as session:
            ledger.add_grant(
                session, user_id, GrantKind.EXTEND, grant_id=f"w{worker}:{n}", seconds=60
            )
    """
)
FETCHES = 400
PER_WRITER = 60
WRITERS = 4


def test_concurrent_writers_never_surface_database_is_locked(portal_process: PortalProcess):
    portal_process.env["VPANEL_TRUSTED_PROXY_HOPS"] = "1"
    portal_process.start()
    db = open_database(portal_process.database_url)
    alice = make_customer(db, "alice@example.com")
    events = paid_events(db, new_plan(db), 80)
    grants_before = books(db).grants
    url = f"{portal_process.url}/api/subscription/{alice.token}"

    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                portal_process.database_url,
                str(alice.id),
                str(i),
                str(PER_WRITER),
            ],
            stderr=subprocess.PIPE,
        )
        for i in range(WRITERS)
    ]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        fetched = pool.map(
            lambda _: requests.get(url, headers=client_ip(), timeout=60).status_code,
            range(FETCHES),
        )
        paid = pool.map(lambda e: deliver(portal_process.url, e), events)
        statuses = [*fetched, *paid]
    failures = [w.communicate(timeout=120)[1] for w in writers if w.wait(timeout=120) != 0]
    after = books(db)

    def accesses() -> int:
        with transaction(db.sessions) as session:
            return session.query(Subscription).filter_by(user_id=alice.id).one().access_count

    wait_for(lambda: accesses() >= FETCHES, 15, "spooled fetches written")  # SPOOL_SECONDS
    count = accesses()
    db.engine.dispose()

    assert statuses == [200] * (FETCHES + len(events))
    assert not failures, failures[0][-2000:]
    assert count == FETCHES
    assert after.orders_paid == len(events)
    assert after.grants == grants_before + len(events) + WRITERS * PER_WRITER
    assert "database is locked" not in portal_process.log.read_text()
