"""Sync speed: initial snapshot of N users to a real waitress portal, then a 100-user delta.

    .venv/bin/python -m bench.bench_sync [--users 100000] [--portal-db sqlite|postgresql://…]
                                         [--page-size N] [--same-process] [--smoke]

The desktop holds what every benchmark seeds (bench.seed: 50 nodes × 4 inbounds, users
with a subscription and a grant, a usage record every 14 days of each user's life of up
to a year: 17 rollup rows per user). A snapshot page carries its users' usage totals and
the rollup rows from each user's usage floor on (the seeded users reset monthly: this
month's days), what the portal derives entitlements from; the portal must then derive
the same `used` as the desktop for every user. The snapshot is timed twice, each time to
an empty portal: of the users before their usage is ingested, and of the users with it.

The portal runs in its own process (as on its own machine in production), so the desktop
and the portal do not share one interpreter lock; `--same-process` runs it in a thread.
A PostgreSQL `--portal-db` is emptied before each snapshot.

Prints a markdown table. Targets: snapshot of 100,000 users < 10 s, delta of 100 < 300 ms.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path

from sqlalchemy import func, select, update
from waitress import wasyncore
from waitress.server import create_server

from bench.seed import ingest_usage, seed
from portal.app import close_app, create_app
from portal.config import PortalConfig
from tests.fixtures.ports import free_port
from vpanel_core import secretbox
from vpanel_core.db import transaction
from vpanel_core.models import UsageDaily, UsageHourly, UsageTotal, User
from vpanel_core.runtime import Database, open_database
from vpanel_core.services import ledger
from vpanel_core.sync.client import SyncClient
from vpanel_core.sync.transport import HttpTransport
from vpanel_core.timeutil import utcnow

USAGE_TABLES = (UsageTotal, UsageDaily, UsageHourly)


@dataclass(frozen=True, slots=True)
class Portal:
    url: str
    code: str  # a pairing code
    database: Database


def serve_portal(portal_url: str, port: int, codes: Connection) -> None:
    """Child process: the portal app on waitress; sends a pairing code once listening."""
    portal_db = open_database(portal_url)
    app = create_app(PortalConfig(database_url=portal_url, secret_key="b" * 40), database=portal_db)
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    codes.send(app.extensions["vpanel_sync"].issue_pairing_code())
    server.run()


@contextmanager
def running_portal(database_url: str, same_process: bool) -> Iterator[Portal]:
    """An empty portal on waitress, in its own process or in a thread of this one."""
    portal_db = open_database(database_url)
    if portal_db.engine.dialect.name == "postgresql":
        # Imported here: importing the fixtures module probes for a local PostgreSQL.
        from tests.fixtures.databases import truncate_all

        truncate_all(portal_db.engine)
    port = free_port()
    stop: Callable[[], None]
    if same_process:
        config = PortalConfig(database_url=database_url, secret_key="b" * 40)
        app = create_app(config, database=portal_db)
        server = create_server(app, host="127.0.0.1", port=port, threads=4)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        code = app.extensions["vpanel_sync"].issue_pairing_code()

        def stop() -> None:
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
            thread.join(timeout=10)
            server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
            close_app(app)

    else:
        ours, theirs = multiprocessing.Pipe()
        child = multiprocessing.get_context("spawn").Process(
            target=serve_portal, args=(database_url, port, theirs), daemon=True
        )
        child.start()
        code = ours.recv()

        def stop() -> None:
            child.terminate()
            child.join(timeout=10)

    try:
        yield Portal(f"http://127.0.0.1:{port}", code, portal_db)
    finally:
        stop()
        portal_db.engine.dispose()


def count_usage_rows(db: Database) -> int:
    with db.sessions() as session:
        return sum(session.scalar(select(func.count()).select_from(t)) or 0 for t in USAGE_TABLES)


def used_bytes(db: Database, now: datetime) -> dict[uuid.UUID, int]:
    """Every user's bytes used in the current period, as the ledger derives them."""
    with db.sessions() as session:
        everyone = session.execute(select(User.id, User.enabled, User.reset_strategy)).all()
        return {user: ent.used for user, ent in ledger.entitlements(session, everyone, now).items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--delta", type=int, default=100)
    parser.add_argument("--page-size", type=int, help="users per snapshot page (client default)")
    parser.add_argument("--portal-db", default="sqlite")
    parser.add_argument("--same-process", action="store_true", help="portal in a thread")
    parser.add_argument("--smoke", action="store_true", help="2,000 users")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as work:
        run(args, Path(work))


def run(args: argparse.Namespace, work: Path) -> None:
    users = 2_000 if args.smoke else args.users
    desktop = open_database(f"sqlite:///{work / 'desktop.db'}")

    def portal_url(name: str) -> str:
        return args.portal_db if args.portal_db != "sqlite" else f"sqlite:///{work / name}"

    transport = HttpTransport(timeout=120)
    box = secretbox.load(work, use_keyring=False)
    options = {} if args.page_size is None else {"page_size": args.page_size}
    client = SyncClient(desktop, box, transport=transport, **options)
    target = "< 10 s" if users == 100_000 else "—"
    rows: list[tuple[str, float, str]] = []
    stored = 0  # usage rows on the desktop

    def snapshot(portal: Portal, what: str) -> None:
        client.pair(portal.url, portal.code)
        started = time.perf_counter()
        report = client.sync_once()
        elapsed = time.perf_counter() - started
        pages = f"{report.snapshot_pages} page{'s' * (report.snapshot_pages != 1)}"
        sent = count_usage_rows(portal.database)
        usage = f" ({sent:,} of {stored:,} rollup rows)" if stored else ""
        rows.append((f"initial snapshot, {what}, {pages}{usage}", elapsed, target))

    try:
        started = time.perf_counter()
        seeded = seed(desktop, users=users, ingest=False)
        seconds = time.perf_counter() - started
        rows.append((f"seed desktop: {users:,} users (bench.seed)", seconds, "—"))
        with desktop.sessions() as session:
            changed = session.scalars(select(User.id).order_by(User.username).limit(args.delta))
            changed_ids = list(changed)
        with running_portal(portal_url("portal.db"), args.same_process) as portal:
            snapshot(portal, f"{users:,} users without usage")
            with transaction(desktop.sessions) as session:
                session.execute(
                    update(User).where(User.id.in_(changed_ids)).values(notes="changed")
                )
            started = time.perf_counter()
            client.sync_once()
            rows.append(
                (
                    f"delta of {len(changed_ids)} changed users (pull + publish)",
                    time.perf_counter() - started,
                    "< 300 ms",
                )
            )
            with portal.database.sessions() as session:
                notes = session.scalar(select(User.notes).where(User.id == changed_ids[0]))
                assert notes == "changed", "delta did not arrive"
        started = time.perf_counter()
        ingest_usage(desktop, seeded.journals)
        rows.append(
            (
                f"ingest usage: {seeded.usage_records:,} records (not part of sync)",
                time.perf_counter() - started,
                "—",
            )
        )
        stored = count_usage_rows(desktop)
        with running_portal(portal_url("portal-usage.db"), args.same_process) as portal:
            snapshot(portal, f"{users:,} users with usage")
            now = utcnow()
            assert used_bytes(portal.database, now) == used_bytes(desktop, now), "usage differs"
    finally:
        transport.close()
        desktop.engine.dispose()
    where = "a thread of the desktop process" if args.same_process else "its own process"
    print("## Sync: desktop → portal (targets: snapshot of 100k users < 10 s, delta < 300 ms)\n")
    print(
        f"portal database: {args.portal_db} (portal in {where}); desktop: SQLite; "
        f"transport: waitress on loopback; {client.page_size:,} users per snapshot page\n"
    )
    print("| step | seconds | target |")
    print("|---|---:|---|")
    for name, seconds, goal in rows:
        print(f"| {name} | {seconds:.3f} | {goal} |")


if __name__ == "__main__":
    main()
