"""Usage as the portal receives it: the desktop's rollup rows, which the portal mirrors.

The desktop is the only writer of usage, so a published row replaces the portal's copy.
Changes are marked per (user, local day) by ingestion; a delta carries that day's row,
its hours and the user's totals. A snapshot page carries its users' totals, the days
of the last `DAYS_KEPT` (enough for a yearly period) and every hour still retained.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select
from sqlalchemy.orm import Session

from vpanel_core.batching import batches, days_between
from vpanel_core.models import Base, UsageDaily, UsageHourly, UsageTotal
from vpanel_core.sync.errors import MessageMalformed
from vpanel_core.sync.rows import (
    Columns,
    count,
    extend,
    read_table,
    select_raw,
    table_of,
    write_table,
)
from vpanel_core.timeutil import local_midnight
from vpanel_core.usage.period import FUTURE_DAYS, HOURLY_RETENTION_DAYS

DAYS_KEPT = 400
_NAMES: dict[type[Base], str] = {UsageTotal: "totals", UsageDaily: "daily", UsageHourly: "hourly"}


def change_key(user_id: str, day: str) -> str:
    """The change entity id of one user's day (canonical uuid text, ISO date)."""
    return f"{user_id}:{day}"


def _read(
    session: Session, into: dict[str, Columns], model: type[Base], query: Select[Any]
) -> None:
    """Add the rows of `query` (a `select_raw(model)`) to `into`'s table of `model`."""
    name = _NAMES[model]
    into[name] = extend(into.get(name, {}), read_table(session, model, query))


def _hours(start: datetime, end: datetime) -> list[datetime]:
    hours, hour = [], start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while hour < end:
        if hour >= start:
            hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def of_user_range(
    session: Session, first: uuid.UUID, last: uuid.UUID, now: datetime
) -> dict[str, Columns]:
    """A snapshot page's usage: users with ids in [first, last]."""
    d, h, t = UsageDaily, UsageHourly, UsageTotal
    today = now.astimezone(UTC).date()
    days = days_between(today - timedelta(days=DAYS_KEPT), today + timedelta(days=FUTURE_DAYS))
    hours = _hours(now - timedelta(days=HOURLY_RETENTION_DAYS), now + timedelta(days=FUTURE_DAYS))
    tables: dict[str, Columns] = {}
    _read(session, tables, t, select_raw(t).where(t.user_id.between(first, last)))
    # Listed keys with a user range: one short index walk per day / hour, not a scan.
    for some_days in batches(days):
        query = select_raw(d).where(d.day.in_(some_days), d.user_id.between(first, last))
        _read(session, tables, d, query)
    for some_hours in batches(hours):
        query = select_raw(h).where(h.hour.in_(some_hours), h.user_id.between(first, last))
        _read(session, tables, h, query)
    return tables


def of_changes(session: Session, keys: Iterable[str], tz: ZoneInfo) -> dict[str, Columns]:
    """A delta's usage: for each changed (user, day), that day, its hours and the totals."""
    d, h, t = UsageDaily, UsageHourly, UsageTotal
    days_of: dict[date, list[uuid.UUID]] = defaultdict(list)
    users: set[uuid.UUID] = set()
    for key in keys:
        user, _, day_text = key.partition(":")
        user_id = uuid.UUID(user)
        days_of[date.fromisoformat(day_text)].append(user_id)
        users.add(user_id)
    tables: dict[str, Columns] = {}
    for chunk in batches(sorted(users)):
        _read(session, tables, t, select_raw(t).where(t.user_id.in_(chunk)))
    for day, ids in sorted(days_of.items()):
        hours = _hours(local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz))
        for chunk in batches(ids):
            _read(session, tables, d, select_raw(d).where(d.day == day, d.user_id.in_(chunk)))
            query = select_raw(h).where(h.hour.in_(hours), h.user_id.in_(chunk))
            _read(session, tables, h, query)
    return tables


def apply(session: Session, tables: dict[str, Any]) -> None:
    """Mirror published rows on the portal (replace: the desktop's figures are the truth)."""
    if not isinstance(tables, dict):
        raise MessageMalformed("usage is not a set of tables")
    for model, name in _NAMES.items():
        update = [c.name for c in model.__table__.columns if not c.primary_key]
        write_table(session, model, table_of(tables, name), update=update)


def rows_in(tables: dict[str, Any]) -> int:
    """How many rows `apply` took."""
    return sum(count(table_of(tables, name)) for name in _NAMES.values())
