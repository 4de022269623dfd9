"""Bytes users moved since a floor, read from the rollups: the ledger's rule, to the byte.

A record counts when it ended at or after the floor (`entitlement.usage_floor`, always
an operator-local hour boundary). The rollups keep each record in its local day and its
local hour, so:

- no floor: the all-time totals;
- a floor at a local midnight (every period start): whole days from that day on;
- a floor later in a day (a manual reset): that day's hours from the floor on, then whole
  days after it. Hours are kept `HOURLY_RETENTION_DAYS`; a reset older than that loses
  the rest of its own day (the customer's favour).

Days and hours are listed explicitly rather than given as a range on the leading key: one
user's question is then a few index seeks, not a scan over every user's rows. Large
groups of users sharing a floor read the range once instead.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vpanel_core.batching import batches, days_between
from vpanel_core.models import UsageDaily, UsageHourly, UsageTotal
from vpanel_core.timeutil import local_midnight

HOURLY_RETENTION_DAYS = 40
# A node clock running ahead still has its bytes counted (and reported as skew).
FUTURE_DAYS = 2
# Above this many users per floor one range read beats per-user seeks.
BULK_USERS = 2000
# Past this many days one range read beats listing them.
MAX_LISTED_DAYS = 400

Bytes = tuple[int, int]


def _add(into: dict[uuid.UUID, Bytes], rows: Any, wanted: set[uuid.UUID] | None) -> None:
    for user_id, up, down in rows:
        if wanted is None or user_id in wanted:
            old = into.get(user_id, (0, 0))
            into[user_id] = (old[0] + int(up or 0), old[1] + int(down or 0))


def _totals(session: Session, ids: Sequence[uuid.UUID], into: dict[uuid.UUID, Bytes]) -> None:
    t = UsageTotal
    query = select(t.user_id, t.uplink, t.downlink)
    if len(ids) > BULK_USERS:
        _add(into, session.execute(query), set(ids))
        return
    for chunk in batches(ids):
        _add(into, session.execute(query.where(t.user_id.in_(chunk))), None)


def _summed(
    session: Session,
    table: type[UsageDaily] | type[UsageHourly],
    key: Any,
    keys: list[Any],
    span: tuple[Any, Any],
    ids: Sequence[uuid.UUID],
    into: dict[uuid.UUID, Bytes],
) -> None:
    """Add `table`'s bytes for `keys` (a day or hour list) per user into `into`."""
    if not keys:
        return
    query = select(table.user_id, func.sum(table.uplink), func.sum(table.downlink)).group_by(
        table.user_id
    )
    if len(ids) > BULK_USERS or len(keys) > MAX_LISTED_DAYS:
        ranged = query.where(key >= span[0], key <= span[1])
        if len(ids) > BULK_USERS:
            _add(into, session.execute(ranged), set(ids))
            return
        for chunk in batches(ids):
            _add(into, session.execute(ranged.where(table.user_id.in_(chunk))), None)
        return
    for chunk in batches(ids):
        listed = query.where(key.in_(keys), table.user_id.in_(chunk))
        _add(into, session.execute(listed), None)


def local_hours(start: datetime, end: datetime) -> list[datetime]:
    """The hourly rollup keys from `start` (a local hour's start) to before `end`.

    Ingestion keys an hour by the instant its local hour begins, which is not a UTC hour
    in a zone like UTC+05:30: the keys step from `start`, not from a UTC hour.
    """
    hours: list[datetime] = []
    hour = start.astimezone(UTC)
    while hour < end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def _since(
    session: Session,
    floor: datetime,
    ids: Sequence[uuid.UUID],
    tz: ZoneInfo,
    today: date,
    into: dict[uuid.UUID, Bytes],
) -> None:
    day = floor.astimezone(tz).date()
    first_day = day
    if floor != local_midnight(day, tz):
        first_day = day + timedelta(days=1)
        hours = local_hours(floor, local_midnight(first_day, tz))
        if hours:
            span = (hours[0], hours[-1])
            _summed(session, UsageHourly, UsageHourly.hour, hours, span, ids, into)
    last_day = today + timedelta(days=FUTURE_DAYS)
    if first_day <= last_day:
        days = days_between(first_day, last_day)
        _summed(session, UsageDaily, UsageDaily.day, days, (first_day, last_day), ids, into)


def period_usage(
    session: Session, floors: Mapping[uuid.UUID, datetime | None], tz: ZoneInfo, now: datetime
) -> dict[uuid.UUID, Bytes]:
    """(uplink, downlink) per user since that user's floor; users with none are absent."""
    by_floor: dict[datetime | None, list[uuid.UUID]] = defaultdict(list)
    for user_id, floor in floors.items():
        by_floor[floor].append(user_id)
    today = now.astimezone(tz).date()
    used: dict[uuid.UUID, Bytes] = {}
    for floor, ids in by_floor.items():
        if floor is None:
            _totals(session, ids, used)
        else:
            _since(session, floor, ids, tz, today, used)
    return used


def last_activity(session: Session, user_id: uuid.UUID) -> datetime | None:
    """When the user's latest counted record ended (None: never used)."""
    return session.scalar(select(UsageTotal.last_at).where(UsageTotal.user_id == user_id))
