"""Usage accounting benchmarks; prints a markdown table.

1. Applying one collection round for 100,000 users × 10 nodes (1,000,000 journal
   records) into SQLite and PostgreSQL (target < 3 s each), every rollup and the sync
   change marks included. Timed: `apply_round` of the ten nodes' pages in one committed
   transaction (commit included), as a fleet collection applies them; then a second
   round on top (the tables already hold a round: updates, not inserts). Every user
   already has a steady state's history (`HISTORY_HOURS` past hours and `HISTORY_DAYS`
   past days: 5.4 million rollup rows), so a round writes into full tables, not empty
   ones. Not timed: migrations, seeding users, nodes and history, building the records.
2. The helper's CPU cost at 1,000 connection events/s: decoding real-format
   `ConnectionEvents` protobuf messages, tallying, and journaling (fsync) every second
   (target < 5 % of one core).
3. Every node's entitlements file after a collection, 100,000 users × 10 nodes (target
   < 10 s) and × 50 nodes (target < 30 s), SQLite (the desktop's database): the desktop
   refreshes them in the background after every automatic collection (every 5 minutes
   by default), so a refresh should take a small part of that. Timed: what
   a fleet refresh does before its uploads, `refresh.entitlement_files` in a transaction
   and each node's payload encoded. Not timed: seeding (`seed_fleet`), the SSH uploads.

Run: .venv/bin/python bench/bench_usage.py [--users N] [--nodes N] [--no-pg] [--smoke]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.databases import PG_AVAILABLE, create_pg_database, drop_pg_database
from vpanel_core.batching import batches
from vpanel_core.db import transaction
from vpanel_core.models import Grant, Node, User
from vpanel_core.runtime import Database, open_database
from vpanel_core.usage import entitlements_file, refresh
from vpanel_core.usage.ingest import apply_round
from vpanel_node.accountant import Tally
from vpanel_node.journal import Journal, UsageLine
from vpanel_node.proto.daemon import ConnectionEvents
from vpanel_node.proto.wire import field_bytes, field_varint

#: history every user already has when the timed rounds run (steady state, not a new
#: install): the hours and days before the current ones, in the time-keyed rollups
HISTORY_HOURS = 24
HISTORY_DAYS = 30

_HISTORY_SQL = {
    "postgresql": (
        "INSERT INTO usage_hourly (hour, user_id, uplink, downlink) "
        "SELECT date_trunc('hour', now() AT TIME ZONE 'UTC') - n * interval '1 hour', id, 1, 1 "
        "FROM users, generate_series(2, :hours + 1) AS n",
        "INSERT INTO usage_daily (day, user_id, uplink, downlink) "
        "SELECT CAST(now() AT TIME ZONE 'UTC' AS date) - n, id, 1, 1 "
        "FROM users, generate_series(2, :days + 1) AS n",
    ),
    "sqlite": (
        "WITH RECURSIVE k(n) AS (SELECT 2 UNION ALL SELECT n + 1 FROM k WHERE n <= :hours) "
        "INSERT INTO usage_hourly (hour, user_id, uplink, downlink) "
        "SELECT strftime('%Y-%m-%d %H:00:00.000000', 'now', printf('-%d hours', n)), id, 1, 1 "
        "FROM users, k",
        "WITH RECURSIVE k(n) AS (SELECT 2 UNION ALL SELECT n + 1 FROM k WHERE n <= :days) "
        "INSERT INTO usage_daily (day, user_id, uplink, downlink) "
        "SELECT date('now', printf('-%d days', n)), id, 1, 1 FROM users, k",
    ),
}


def seed_history(db: Database, hours: int, days: int) -> None:
    """Past hours and days for every user, written in the database itself (millions of rows)."""
    with transaction(db.sessions) as s:
        for statement in _HISTORY_SQL[db.engine.dialect.name]:
            s.execute(text(statement), {"hours": hours, "days": days})
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE usage_hourly, usage_daily"))


def bench_ingest(url: str, users: int, nodes: int) -> tuple[list[float], int]:
    db = open_database(url)
    user_ids = [uuid.uuid4() for _ in range(users)]
    node_ids = [uuid.uuid4() for _ in range(nodes)]
    with transaction(db.sessions) as s:
        for start in range(0, users, 20_000):
            s.execute(
                insert(User),
                [
                    {
                        "id": uid,
                        "username": f"u{start + i}",
                        "proxy_secret": "x",
                        "credential": uuid.uuid4(),
                    }
                    for i, uid in enumerate(user_ids[start : start + 20_000])
                ],
            )
        s.execute(
            insert(Node), [{"id": n, "name": f"n{i}", "host": "h"} for i, n in enumerate(node_ids)]
        )
    seed_history(db, HISTORY_HOURS, HISTORY_DAYS)
    t0 = int(time.time() * 1000) - 60_000
    pages = {
        node: [
            UsageLine(i + 1, str(uid), 1000 + i, 50_000 + i, t0, t0 + 30_000)
            for i, uid in enumerate(user_ids)
        ]
        for node in node_ids
    }
    zone = ZoneInfo("Europe/Berlin")
    times, applied = [], 0
    for round_ in range(2):
        if round_:
            pages = {
                node: [replace(r, seq=r.seq + users, t0=r.t1, t1=r.t1 + 30_000) for r in recs]
                for node, recs in pages.items()
            }
        started = time.perf_counter()
        with transaction(db.sessions) as s:
            results = apply_round(s, pages, zone)
        times.append(time.perf_counter() - started)
        applied += sum(r.applied for r in results.values())
    db.engine.dispose()
    return times, applied


def _grant(
    grant_id: str,
    user_id: uuid.UUID,
    kind: str,
    at: datetime,
    seconds: int,
    size: int,
    unlimited: bool = False,
) -> dict[str, Any]:
    """A grant row with every column: one executemany needs the same keys in each row."""
    return {
        "id": grant_id,
        "user_id": user_id,
        "kind": kind,
        "seconds": seconds,
        "bytes": size,
        "unlimited": unlimited,
        "reverses": None,
        "effective_at": at,
        "source": "seed",
        "note": "",
        "created_at": at,
    }


def seed_fleet(url: str, users: int, nodes: int) -> tuple[Database, list[uuid.UUID]]:
    """A fleet as operators run it: two node groups, most users on every node, the others on
    one group; four in ten reset monthly or daily; some lapsed, unlimited, disabled or
    topped up; each user last seen on one node."""
    rng = random.Random(7)
    db = open_database(url)
    now = datetime.now(UTC)
    node_ids = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(nodes)]
    user_ids = sorted(uuid.UUID(int=rng.getrandbits(128)) for _ in range(users))
    user_rows, grant_rows = [], []
    for i, uid in enumerate(user_ids):
        since = now - timedelta(days=rng.randint(1, 60))
        user_rows.append(
            {
                "id": uid,
                "username": f"u{i}",
                "proxy_secret": "x",
                "credential": uuid.uuid4(),
                "enabled": rng.random() > 0.02,
                "reset_strategy": rng.choices(["none", "monthly", "daily"], [6, 3, 1])[0],
                "node_groups": rng.choices([[], ["asia"], ["eu"]], [7, 2, 1])[0],
            }
        )
        unlimited = rng.random() < 0.1
        quota = 0 if unlimited else 100 * 2**30
        grant_rows.append(
            _grant(f"seed:{uid}", uid, "extend", since, 30 * 86_400, quota, unlimited)
        )
        if rng.random() < 0.1:
            at = since + timedelta(days=1)
            grant_rows.append(_grant(f"top-up:{uid}", uid, "traffic", at, 0, 10 * 2**30))
    with transaction(db.sessions) as s:
        for part in batches(user_rows, 20_000):
            s.execute(insert(User), part)
        for part in batches(grant_rows, 20_000):
            s.execute(insert(Grant), part)
        s.execute(
            insert(Node),
            [
                {"id": n, "name": f"n{i}", "host": "h", "group": ("asia", "eu")[i % 2]}
                for i, n in enumerate(node_ids)
            ],
        )
    t1 = int(now.timestamp() * 1000) - 60_000
    pages: dict[uuid.UUID, list[UsageLine]] = {n: [] for n in node_ids}
    for uid in user_ids:
        page = pages[rng.choice(node_ids)]
        page.append(UsageLine(len(page) + 1, str(uid), 1000, rng.randint(0, 2**33), t1 - 1, t1))
    with transaction(db.sessions) as s:
        apply_round(s, pages, ZoneInfo("UTC"))
    return db, node_ids


def bench_entitlement_files(users: int, nodes: int, runs: int) -> tuple[list[float], int, int]:
    """Seconds per run on one seeded database, entries written and the largest file's bytes."""
    url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    try:
        db, node_ids = seed_fleet(url, users, nodes)
        times: list[float] = []
        for _ in range(runs):
            started = time.perf_counter()
            with transaction(db.sessions) as s:
                files = refresh.entitlement_files(s, node_ids)
            entries = largest = 0
            for node_id in node_ids:  # one file at a time, as the pushes take them
                payload = files.payload(node_id)
                entries += len(payload["users"])
                largest = max(largest, len(entitlements_file.encode(payload)))
            times.append(time.perf_counter() - started)
        db.engine.dispose()
    finally:
        _remove_sqlite(url)
    return times, entries, largest


def _event_message(conn_index: int, kind: int) -> bytes:
    conn_id = f"{conn_index:08d}-0000-0000-0000-000000000000"
    event = field_varint(1, kind) + field_bytes(2, conn_id.encode())
    if kind == 1:
        event += field_varint(4, 300) + field_varint(5, 40_000)
    else:
        conn = (
            field_bytes(1, conn_id.encode())
            + field_bytes(2, b"trojan-in")
            + field_bytes(10, str(uuid.UUID(int=conn_index % 5000)).encode())
            + field_varint(16, 1000)
            + field_varint(17, 100_000)
        )
        event += field_bytes(3, conn)
    return event


def bench_helper_cpu(events_per_second: int, seconds: int) -> float:
    """CPU seconds per wall second spent decoding + tallying + journaling the events."""
    # sing-box batches a tick's events into one ConnectionEvents message (interval 1 s).
    per_batch = [
        field_bytes(1, _event_message(i, 1 if i % 3 else (0 if i % 2 else 2)))
        for i in range(events_per_second)
    ]
    message = b"".join(per_batch)
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp)).open()
        tally = Tally()
        cpu_start = time.process_time()
        for second in range(seconds):
            batch = ConnectionEvents.decode(message)
            tally.apply(batch, second * 1000)
            rows, changed, gone = tally.take(second * 1000 + 1000)
            journal.append(rows, changed, gone)
        cpu = time.process_time() - cpu_start
    return cpu / seconds


def _remove_sqlite(url: str) -> None:
    shutil.rmtree(Path(url.removeprefix("sqlite:///")).parent, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--runs", type=int, default=3, help="fresh databases per backend")
    parser.add_argument("--smoke", action="store_true", help="2,000 users × 3 nodes, 2 s helper")
    args = parser.parse_args()
    if args.smoke:
        args.users, args.nodes = 2000, 3
    runs = 1 if args.smoke else args.runs
    rows = []
    targets: list[tuple[str, Callable[[], str], Callable[[str], None]]] = [
        ("SQLite", lambda: f"sqlite:///{tempfile.mkdtemp()}/bench.db", _remove_sqlite)
    ]
    if PG_AVAILABLE and not args.no_pg:
        targets.append(("PostgreSQL", create_pg_database, drop_pg_database))
    for label, make, drop in targets:
        first, second, applied = [], [], 0
        for _ in range(runs):  # a fresh database each run
            url = make()
            try:
                times, applied = bench_ingest(url, args.users, args.nodes)
            finally:
                drop(url)
            first.append(times[0])
            second.append(times[1])
        rows.append(
            (
                f"apply usage, {label}",
                f"{args.users:,} users × {args.nodes} nodes",
                f"{statistics.median(first):.2f} s (max {max(first):.2f}); next round "
                f"{statistics.median(second):.2f} s (max {max(second):.2f})",
                f"{applied:,} records in 2 rounds; median of {runs} run{'s' if runs > 1 else ''}",
                "< 3 s",
            )
        )
    fleets = [(args.nodes, "< 10 s")] if args.smoke else [(args.nodes, "< 10 s"), (50, "< 30 s")]
    for nodes, target in fleets:
        times, entries, largest = bench_entitlement_files(args.users, nodes, runs)
        rows.append(
            (
                "entitlement files, SQLite",
                f"{args.users:,} users × {nodes} nodes",
                f"{statistics.median(times):.2f} s (max {max(times):.2f})",
                f"{entries:,} entries, largest file {largest / 1e6:.1f} MB; "
                f"median of {runs} run{'s' if runs > 1 else ''}",
                target,
            )
        )
    helper_seconds = 2 if args.smoke else 10
    share = bench_helper_cpu(1000, helper_seconds)
    rows.append(
        (
            "helper CPU at 1,000 events/s",
            f"decode + tally + fsync'd journal, {helper_seconds} s",
            f"{share * 100:.2f} % of one core",
            "",
            "< 5 %",
        )
    )
    print("| benchmark | size | result | detail | target |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
