"""Users screen at scale: seed N users with bulk inserts, time opening and filtering.

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m bench.bench_desktop [--users 100000]

Prints a markdown table. Targets: open < 1 s, filter < 200 ms.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QThreadPool
from PySide6.QtWidgets import QApplication
from sqlalchemy import insert

from vpanel_core import secretbox
from vpanel_core.models import Grant, Subscription, User
from vpanel_core.runtime import Database, open_database
from vpanel_core.services.user_query import StatusSnapshot, UserQuery, count_users, status_snapshot
from vpanel_desktop.context import AppContext
from vpanel_desktop.screens.users import UsersScreen


def seed(db: Database, count: int) -> float:
    started = time.perf_counter()
    now = datetime.now(UTC)
    batch = 10_000
    with db.engine.begin() as conn:
        for start in range(0, count, batch):
            users, subs, grants = [], [], []
            for i in range(start, min(count, start + batch)):
                uid = uuid.uuid4()
                users.append(
                    {
                        "id": uid,
                        "username": f"user{i:06d}",
                        "email": f"user{i:06d}@example.com",
                        "email_verified": False,
                        "alias": "",
                        "notes": "",
                        "role": "customer",
                        "enabled": i % 20 != 0,
                        "credential": uuid.uuid4(),
                        "proxy_secret": "x" * 32,
                        "reset_strategy": "monthly" if i % 3 == 0 else "none",
                        "node_groups": ["eu"] if i % 2 else ["asia"],
                        "locale": "en",
                        "created_at": now - timedelta(seconds=count - i),
                        "updated_at": now,
                    }
                )
                subs.append(
                    {
                        "id": uuid.uuid4(),
                        "user_id": uid,
                        "token": uuid.uuid4().hex + f"{i}",
                        "short_code": f"{i:08d}",
                        "created_at": now,
                        "access_count": 0,
                        "last_access_ip": "",
                        "last_access_ua": "",
                    }
                )
                grants.append(
                    {
                        "id": f"seed:{i}",
                        "user_id": uid,
                        "kind": "extend",
                        "seconds": 86400 * (i % 60),
                        "bytes": 50 << 30,
                        "unlimited": False,
                        "effective_at": now - timedelta(days=30),
                        "source": "bench",
                        "note": "",
                        "created_at": now,
                    }
                )
            conn.execute(insert(User), users)
            conn.execute(insert(Subscription), subs)
            conn.execute(insert(Grant), grants)
    return time.perf_counter() - started


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--smoke", action="store_true", help="2,000 users")
    args = parser.parse_args()
    user_count = 2_000 if args.smoke else args.users
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([])
    workdir = Path(tempfile.mkdtemp(prefix="vpanel-bench-"))
    try:
        run(app, workdir, user_count)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(app: QApplication, workdir: Path, user_count: int) -> None:
    db = open_database(f"sqlite:///{workdir / 'bench.db'}")
    seed_s = seed(db, user_count)
    ctx = AppContext(db, secretbox.load(workdir, use_keyring=False))
    rows: list[tuple[str, str]] = [("users seeded", f"{user_count:,} in {seed_s:.1f} s")]
    screen: list[UsersScreen] = []
    open_s = timed(lambda: screen.append(UsersScreen(ctx)))
    users = screen[0]
    users.show()
    app.processEvents()
    rows.append(("open Users screen (count + first page)", f"{open_s * 1000:.0f} ms"))

    def apply(text: str) -> float:
        users.search.setText(text)
        return timed(users.apply_filters)

    rows.append(("search 'user0999' (prefix, 11 matches)", f"{apply('user0999') * 1000:.0f} ms"))
    rows.append(("search '@example' (all match)", f"{apply('@example') * 1000:.0f} ms"))
    rows.append(("search 'nomatch'", f"{apply('nomatch') * 1000:.0f} ms"))
    users.search.setText("")
    group = users.group_filter.findData("eu")
    rows.append(
        (
            "filter node group 'eu'",
            f"{timed(lambda: users.group_filter.setCurrentIndex(group)) * 1000:.0f} ms",
        )
    )
    users.group_filter.setCurrentIndex(0)
    disabled = users.status_filter.findData("disabled")
    rows.append(
        (
            "filter status 'disabled' (SQL)",
            f"{timed(lambda: users.status_filter.setCurrentIndex(disabled)) * 1000:.0f} ms",
        )
    )
    with db.sessions() as session:
        snapshot: list[StatusSnapshot] = []
        snap_s = timed(lambda: snapshot.append(status_snapshot(session)))
        count_s = timed(lambda: count_users(session, UserQuery()))
    rows.append(("status snapshot, all users (background thread)", f"{snap_s * 1000:.0f} ms"))
    users.model.snapshot = snapshot[0]
    expired = users.status_filter.findData("expired")
    rows.append(
        (
            "filter status 'expired' (snapshot ready)",
            f"{timed(lambda: users.status_filter.setCurrentIndex(expired)) * 1000:.0f} ms",
        )
    )
    users.status_filter.setCurrentIndex(0)
    rows.append(("count(*) all users", f"{count_s * 1000:.0f} ms"))
    rows.append(
        ("scroll: fetch next page (200 rows)", f"{timed(users.model.fetchMore) * 1000:.0f} ms")
    )
    QThreadPool.globalInstance().waitForDone()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(("peak RSS", f"{rss_mb:.0f} MiB"))
    print("## Desktop Users screen (targets: open < 1 s, filter < 200 ms, RSS < 500 MB)\n")
    print(f"| Users screen, {user_count:,} users (SQLite) | result |")
    print("| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
