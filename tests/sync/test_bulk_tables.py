"""Users, subscriptions, grants and usage travel as tables of columns, read from and
written to the driver directly: what arrives is what the desktop stores, to the value."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.fixtures.usage import record_usage
from tests.sync.conftest import Pair
from tests.sync.test_rejections import post
from tests.sync.world import seed_desktop
from vpanel_core.db import transaction
from vpanel_core.entitlement import GrantKind
from vpanel_core.models import Base, Grant, Subscription, UsageDaily, UsageHourly, UsageTotal, User
from vpanel_core.runtime import Database
from vpanel_core.services import ledger, users
from vpanel_core.sync import envelope, keys, rows
from vpanel_core.timeutil import utcnow

USER_TABLES: tuple[type[Base], ...] = (User, Subscription, Grant)
USAGE_TABLES: tuple[type[Base], ...] = (UsageTotal, UsageDaily, UsageHourly)
NAMES = ("user001", "user002", "user007", "user015", "user019")


def stored(db: Database, *models: type[Base]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of `models` as SQLAlchemy reads it back (typed values), in key order."""
    with db.sessions() as session:
        return {
            m.__tablename__: sorted(session.execute(select(m.__table__)).all(), key=repr)
            for m in models
        }


def use(db: Database, days_ago: float, *names: str, up: int = 1000, down: int = 9000) -> None:
    with transaction(db.sessions) as session:
        for name in names:
            user = users.find_user(session, name)
            record_usage(session, user.id, up, down, utcnow() - timedelta(days=days_ago))


def test_a_snapshot_carries_totals_and_the_rows_from_each_users_floor_on(paired: Pair) -> None:
    seed_desktop(paired.desktop, n_users=20)  # no reset strategy: the totals are enough
    reset_day = utcnow().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=4)
    with transaction(paired.desktop.sessions) as session:
        ids = {name: users.find_user(session, name).id for name in NAMES}
        users.update_profile(session, users.find_user(session, "user001"), reset_strategy="daily")
        users.update_profile(session, users.find_user(session, "user015"), reset_strategy="monthly")
        reset = reset_day + timedelta(hours=1, minutes=30)  # counts from 02:00 (UTC, the zone)
        ledger.add_grant(session, ids["user019"], GrantKind.USAGE_RESET, effective_at=reset)
        record_usage(session, ids["user019"], 5, 7, reset_day + timedelta(hours=14))
    use(paired.desktop, 0, "user001", "user007", "user015")  # today: days and hours
    use(paired.desktop, 3.5, "user001")  # before its (daily) floor
    use(paired.desktop, 200, "user007")
    report = paired.client.sync_once()
    assert report.snapshot_pages == 3  # usage travels with its users' page
    desktop, portal = stored(paired.desktop, *USAGE_TABLES), stored(paired.portal, *USAGE_TABLES)
    assert portal["usage_totals"] == desktop["usage_totals"]
    today = max(day for day, user, *_ in desktop["usage_daily"] if user == ids["user001"])
    assert portal["usage_daily"] == [
        (day, user, *counts)
        for day, user, *counts in desktop["usage_daily"]
        if user in (ids["user015"], ids["user019"]) or (user, day) == (ids["user001"], today)
    ]
    # Hours only for a floor that falls mid-day, from the floor to the end of its day.
    assert portal["usage_hourly"] == [
        row for row in desktop["usage_hourly"] if row[1] == ids["user019"]
    ]

    use(paired.desktop, 0, "user001", "user002", up=5, down=7)
    fresh = (ids["user001"], ids["user002"])
    report = paired.client.sync_once()
    assert report.snapshot_pages == 0 and report.changes_published > 0
    desktop, portal = stored(paired.desktop, *USAGE_TABLES), stored(paired.portal, *USAGE_TABLES)
    assert portal["usage_totals"] == desktop["usage_totals"]
    for table in ("usage_daily", "usage_hourly"):  # the day and hour just used
        latest = max(r[0] for r in desktop[table] if r[1] == ids["user002"])
        changed = [r for r in desktop[table] if r[0] == latest and r[1] in fresh]
        assert changed and set(changed) <= set(portal[table])


def test_every_column_arrives_as_the_desktop_stores_it(paired: Pair) -> None:
    seed_desktop(paired.desktop, n_users=4)
    with transaction(paired.desktop.sessions) as session:
        odd = users.create_user(
            session,
            users.NewUser(
                username="zoe.odd-1",
                alias="Zoë 日本",
                notes='line one\nline "two" ½',
                days=30,
                traffic_bytes=(1 << 40) + 7,
                reset_strategy="monthly",
                node_groups=("eu", "日本"),
            ),
        )
        ledger.renew(session, odd, days=1, grant_id="manual:odd")
        ledger.reset_usage(session, odd, grant_id="reset:odd")
        whole_second = utcnow().replace(microsecond=0)  # isoformat drops the fraction
        session.execute(update(User).where(User.id == odd.id).values(created_at=whole_second))
    paired.client.sync_once()
    assert stored(paired.portal, *USER_TABLES) == stored(paired.desktop, *USER_TABLES)


def test_tables_longer_than_one_write_batch_arrive_whole(
    paired: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rows, "CHUNK", 3)
    seed_desktop(paired.desktop, n_users=20)
    with transaction(paired.desktop.sessions) as session:
        session.execute(update(User).values(reset_strategy="yearly"))  # today's days travel
    use(paired.desktop, 0, *(f"user{i:03d}" for i in range(20)))
    paired.client.sync_once()
    sent = (*USER_TABLES, UsageTotal, UsageDaily)
    assert stored(paired.portal, *sent) == stored(paired.desktop, *sent)


COLUMNS = {"id": ["7c6b3a52-0d53-4a0b-9f55-2f0d1f1b0a11"], "username": ["x"]}


@pytest.mark.parametrize(
    "publication",
    [
        {"users": COLUMNS},  # the other columns missing
        {"users": {**COLUMNS, "username": ["x", "y"]}},  # columns of different lengths
        {"users": [{"id": COLUMNS["id"][0]}]},  # rows, not columns
        {"usage": [{"table": "totals"}]},
    ],
    ids=["missing-columns", "ragged-columns", "rows-not-columns", "usage-not-tables"],
)
def test_malformed_tables_are_rejected_and_nothing_is_applied(
    paired: Pair, publication: dict[str, Any]
) -> None:
    with transaction(paired.desktop.sessions) as session:
        me = keys.identity(session, paired.client.box)
    body = {"mode": "snapshot", "to_version": 1, "final": True, "publication": publication}
    response = post(paired, envelope.seal(me, "portal", "publish", body))
    assert response.status_code == 400
    assert response.get_json()["code"] == "SYNC_MESSAGE_MALFORMED"
    with paired.portal.sessions() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0
