"""Usage as the portal receives it: the desktop's rollup rows, which the portal mirrors.

The desktop is the only writer of usage, so a published row replaces the portal's copy.
Changes are marked per (user, local day) by ingestion; a delta carries that day's row,
its hours and the user's totals. A snapshot page carries its users' totals, the days
of the last `DAYS_KEPT` (enough for a yearly period) and every hour still retained.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from vpanel_core.batching import batches, days_between
from vpanel_core.models import UsageDaily, UsageHourly, UsageTotal
from vpanel_core.sync.rows import upsert
from vpanel_core.timeutil import local_midnight
from vpanel_core.usage.period import FUTURE_DAYS, HOURLY_RETENTION_DAYS

DAYS_KEPT = 400
_VALUES = ("uplink", "downlink")


def change_key(user_id: str, day: str) -> str:
    """The change entity id of one user's day (canonical uuid text, ISO date)."""
    return f"{user_id}:{day}"


def _total(row: Any) -> dict[str, Any]:
    user_id, up, down, last_at, last_node = row
    return {
        "table": "totals",
        "user_id": str(user_id),
        "uplink": up,
        "downlink": down,
        "last_at": last_at.isoformat(),
        "last_node_id": str(last_node) if last_node else None,
    }


def _bucket(table: str, key: str, row: Any) -> dict[str, Any]:
    """A day or hour row: `key` is "day" or "hour" (its value as ISO text)."""
    at, user_id, up, down = row
    return {
        "table": table,
        key: at.isoformat(),
        "user_id": str(user_id),
        "uplink": up,
        "downlink": down,
    }


def _totals_query() -> Any:
    t = UsageTotal
    return select(t.user_id, t.uplink, t.downlink, t.last_at, t.last_node_id)


def _hours(start: datetime, end: datetime) -> list[datetime]:
    hours, hour = [], start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while hour < end:
        if hour >= start:
            hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def of_user_range(
    session: Session, first: uuid.UUID, last: uuid.UUID, now: datetime
) -> list[dict[str, Any]]:
    """A snapshot page's usage: users with ids in [first, last]."""
    d, h, t = UsageDaily, UsageHourly, UsageTotal
    today = now.astimezone(UTC).date()
    days = days_between(today - timedelta(days=DAYS_KEPT), today + timedelta(days=FUTURE_DAYS))
    hours = _hours(now - timedelta(days=HOURLY_RETENTION_DAYS), now + timedelta(days=FUTURE_DAYS))
    rows = [
        _total(r) for r in session.execute(_totals_query().where(t.user_id.between(first, last)))
    ]
    # Listed keys with a user range: one short index walk per day / hour, not a scan.
    for some_days in batches(days):
        query = select(d.day, d.user_id, d.uplink, d.downlink).where(
            d.day.in_(some_days), d.user_id.between(first, last)
        )
        rows.extend(_bucket("daily", "day", r) for r in session.execute(query))
    for some_hours in batches(hours):
        hourly = select(h.hour, h.user_id, h.uplink, h.downlink).where(
            h.hour.in_(some_hours), h.user_id.between(first, last)
        )
        rows.extend(_bucket("hourly", "hour", r) for r in session.execute(hourly))
    return rows


def of_changes(session: Session, keys: Iterable[str], tz: ZoneInfo) -> list[dict[str, Any]]:
    """A delta's usage: for each changed (user, day), that day, its hours and the totals."""
    d, h, t = UsageDaily, UsageHourly, UsageTotal
    days_of: dict[date, list[uuid.UUID]] = defaultdict(list)
    users: set[uuid.UUID] = set()
    for key in keys:
        user, _, day_text = key.partition(":")
        user_id = uuid.UUID(user)
        days_of[date.fromisoformat(day_text)].append(user_id)
        users.add(user_id)
    ordered = sorted(users)
    rows: list[dict[str, Any]] = []
    for chunk in batches(ordered):
        rows.extend(_total(r) for r in session.execute(_totals_query().where(t.user_id.in_(chunk))))
    for day, ids in sorted(days_of.items()):
        hours = _hours(local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz))
        for chunk in batches(ids):
            query = select(d.day, d.user_id, d.uplink, d.downlink).where(
                d.day == day, d.user_id.in_(chunk)
            )
            rows.extend(_bucket("daily", "day", r) for r in session.execute(query))
            hourly = select(h.hour, h.user_id, h.uplink, h.downlink).where(
                h.hour.in_(hours), h.user_id.in_(chunk)
            )
            rows.extend(_bucket("hourly", "hour", r) for r in session.execute(hourly))
    return rows


def apply(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Mirror published rows on the portal (replace: the desktop's figures are the truth)."""
    totals, daily, hourly = [], [], []
    for row in rows:
        kind = row.get("table")
        values = {"user_id": uuid.UUID(row["user_id"]), **{v: int(row[v]) for v in _VALUES}}
        if kind == "totals":
            node = row.get("last_node_id")
            totals.append(
                {
                    **values,
                    "last_at": datetime.fromisoformat(row["last_at"]),
                    "last_node_id": uuid.UUID(node) if node else None,
                }
            )
        elif kind == "daily":
            daily.append({**values, "day": date.fromisoformat(row["day"])})
        elif kind == "hourly":
            hourly.append({**values, "hour": datetime.fromisoformat(row["hour"])})
    upsert(session, UsageTotal, totals, update=(*_VALUES, "last_at", "last_node_id"))
    upsert(session, UsageDaily, daily, update=_VALUES)
    upsert(session, UsageHourly, hourly, update=_VALUES)
