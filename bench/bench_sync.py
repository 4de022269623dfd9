"""Sync speed: initial snapshot of N users to a real waitress portal, then a 100-user delta.

    .venv/bin/python -m bench.bench_sync [--users 100000] [--portal-db sqlite|postgresql://…]
                                         [--same-process]

The portal runs in its own process (as on its own machine in production), so the desktop
and the portal do not share one interpreter lock; `--same-process` runs it in a thread.

Prints a markdown table. Targets: snapshot of 100,000 users < 10 s, delta of 100 < 300 ms.
"""

from __future__ import annotations

import argparse
import multiprocessing
import secrets
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from waitress import wasyncore
from waitress.server import create_server

from portal.app import create_app
from portal.config import PortalConfig
from tests.fixtures.ports import free_port
from vpanel_core import secretbox
from vpanel_core.db import transaction
from vpanel_core.models import Grant, Subscription, User
from vpanel_core.runtime import Database, open_database
from vpanel_core.services import plans
from vpanel_core.sync.client import SyncClient
from vpanel_core.sync.transport import HttpTransport
from vpanel_core.timeutil import utcnow


def seed(db: Database, count: int) -> list[uuid.UUID]:
    """Users with a subscription and a grant each, written in bulk (tracked as changes)."""
    now = utcnow()
    ids = [uuid.uuid4() for _ in range(count)]
    with transaction(db.sessions) as session:
        plans.create_plan(session, plans.NewPlan("Basic", 500, "USD", 30, traffic_bytes=50 << 30))
        for start in range(0, count, 5000):
            chunk = ids[start : start + 5000]
            codes = [f"{n:08x}" for n in range(start, start + len(chunk))]  # unique short codes
            session.execute(
                insert(User),
                [
                    {
                        "id": i,
                        "username": f"u{i.hex[:12]}",
                        "email": f"{i.hex[:12]}@example.com",
                        "credential": uuid.uuid4(),
                        "proxy_secret": secrets.token_urlsafe(24),
                        "node_groups": [],
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in chunk
                ],
            )
            session.execute(
                insert(Subscription),
                [
                    {
                        "user_id": i,
                        "token": secrets.token_urlsafe(32),
                        "short_code": code,
                        "created_at": now,
                    }
                    for i, code in zip(chunk, codes, strict=True)
                ],
            )
            session.execute(
                insert(Grant),
                [
                    {
                        "id": f"seed:{i}",
                        "user_id": i,
                        "kind": "extend",
                        "seconds": 30 * 86400,
                        "bytes": 50 << 30,
                        "unlimited": False,
                        "effective_at": now - timedelta(days=1),
                        "source": "seed",
                        "note": "",
                        "created_at": now,
                    }
                    for i in chunk
                ],
            )
    return ids


def serve_portal(portal_url: str, port: int, codes: Connection) -> None:
    """Child process: the portal app on waitress; sends a pairing code once listening."""
    portal_db = open_database(portal_url)
    app = create_app(PortalConfig(database_url=portal_url, secret_key="b" * 40), database=portal_db)
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    codes.send(app.extensions["vpanel_sync"].issue_pairing_code())
    server.run()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--delta", type=int, default=100)
    parser.add_argument("--page-size", type=int, default=2000)
    parser.add_argument("--portal-db", default="sqlite")
    parser.add_argument("--same-process", action="store_true", help="portal in a thread")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    desktop = open_database(f"sqlite:///{work / 'desktop.db'}")
    portal_url = args.portal_db if args.portal_db != "sqlite" else f"sqlite:///{work / 'portal.db'}"
    port = free_port()
    child: multiprocessing.process.BaseProcess | None = None
    server: Any = None
    if args.same_process:
        portal_db = open_database(portal_url)
        config = PortalConfig(database_url=portal_url, secret_key="b" * 40)
        app = create_app(config, database=portal_db)
        server = create_server(app, host="127.0.0.1", port=port, threads=4)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        code = app.extensions["vpanel_sync"].issue_pairing_code()
    else:
        ours, theirs = multiprocessing.Pipe()
        child = multiprocessing.get_context("spawn").Process(
            target=serve_portal, args=(portal_url, port, theirs), daemon=True
        )
        child.start()
        code = ours.recv()
        portal_db = open_database(portal_url)
    transport = HttpTransport(timeout=120)
    client = SyncClient(
        desktop,
        secretbox.load(work, use_keyring=False),
        transport=transport,
        page_size=args.page_size,
    )
    rows: list[tuple[str, float, str]] = []
    try:
        started = time.perf_counter()
        client_ids = seed(desktop, args.users)
        rows.append(
            (
                f"seed desktop with {args.users:,} users (bulk insert)",
                time.perf_counter() - started,
                "—",
            )
        )
        client.pair(f"http://127.0.0.1:{port}", code)
        started = time.perf_counter()
        report = client.sync_once()
        elapsed = time.perf_counter() - started
        target = "< 10 s" if args.users == 100_000 else "—"
        rows.append(
            (
                f"initial snapshot, {args.users:,} users, {report.snapshot_pages} pages",
                elapsed,
                target,
            )
        )
        with transaction(desktop.sessions) as session:
            for user_id in client_ids[: args.delta]:
                session.execute(update(User).where(User.id == user_id).values(notes="changed"))
        started = time.perf_counter()
        client.sync_once()
        rows.append(
            (
                f"delta of {args.delta} changed users (pull + publish)",
                time.perf_counter() - started,
                "< 300 ms",
            )
        )
        with portal_db.sessions() as session:
            changed = session.scalar(select(User.notes).where(User.id == client_ids[0]))
            assert changed == "changed", "delta did not arrive"
    finally:
        if child is not None:
            child.terminate()
            child.join(timeout=10)
        else:
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
            thread.join(timeout=10)
            server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        transport.close()
    where = "a thread of the desktop process" if args.same_process else "its own process"
    print(
        f"\nportal database: {args.portal_db} (portal in {where}); desktop: SQLite; "
        "transport: waitress on loopback\n"
    )
    print("| step | seconds | target |")
    print("|---|---:|---|")
    for name, seconds, target in rows:
        print(f"| {name} | {seconds:.3f} | {target} |")


if __name__ == "__main__":
    main()
