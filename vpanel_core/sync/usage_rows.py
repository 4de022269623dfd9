"""Usage as the portal receives it: the desktop's rollup rows, which the portal mirrors.

The desktop is the only writer of usage, so a published row replaces the portal's copy.
The portal reads usage for two things: each user's used bytes since the usage floor
(`usage.period.period_usage`) and the totals (all-time bytes, last activity, last node).
So a published user brings the totals and the rows from the floor on: the days from the
floor's local day and, when the floor falls mid-day (a manual reset), that day's hours
from it; nothing older. Floors move forward with time; whatever moves one back publishes
the user again, or a full snapshot for a new time zone (docs/sync.md).

Ingestion marks changes per (user, local day); a delta carries that day's row, its hours
and the user's totals.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select
from sqlalchemy.orm import Session

from vpanel_core.batching import batches, days_between
from vpanel_core.entitlement import FLOOR_KINDS, GrantFact, GrantKind, effective_grants
from vpanel_core.models import Base, Grant, UsageDaily, UsageHourly, UsageTotal
from vpanel_core.services import ledger
from vpanel_core.sync.errors import MessageMalformed
from vpanel_core.sync.rows import (
    Columns,
    as_dicts,
    count,
    extend,
    filtered,
    load,
    read_table,
    select_raw,
    table_of,
    write_table,
)
from vpanel_core.timeutil import local_midnight
from vpanel_core.usage.period import FUTURE_DAYS, local_hours

_NAMES: dict[type[Base], str] = {UsageTotal: "totals", UsageDaily: "daily", UsageHourly: "hourly"}
# A condition on a user id column naming the users published: an id range or an IN list.
Owned = Callable[[Any], Any]


def change_key(user_id: str, day: str) -> str:
    """The change entity id of one user's day (canonical uuid text, ISO date)."""
    return f"{user_id}:{day}"


def _read(
    session: Session, into: dict[str, Columns], model: type[Base], query: Select[Any]
) -> None:
    """Add the rows of `query` (a `select_raw(model)`) to `into`'s table of `model`."""
    name = _NAMES[model]
    into[name] = extend(into.get(name, {}), read_table(session, model, query))


def merge(tables: dict[str, Columns], more: dict[str, Columns]) -> None:
    """Add the rows of `more` to `tables`."""
    for name, table in more.items():
        tables[name] = extend(tables.get(name, {}), table)


def floors_of(users: Columns, grants: Columns, now: datetime, tz: ZoneInfo) -> dict[str, datetime]:
    """The usage floor at `now` of each user of a publication's `users` table (by wire id),
    derived by the ledger from the tables it carries: the users' reset strategies and the
    few grants a floor depends on. Users without one (counted from the totals) are absent.
    """
    kinds = {kind.value for kind in FLOOR_KINDS}
    picked = filtered(grants, [kind in kinds for kind in grants.get("kind", [])])
    facts: dict[str, list[GrantFact]] = defaultdict(list)
    for row in as_dicts(picked):
        grant = load(Grant, row)
        facts[row["user_id"]].append(
            GrantFact(
                grant["id"],
                GrantKind(grant["kind"]),
                grant["effective_at"],
                reverses=grant["reverses"],
            )
        )
    live = {user: effective_grants(some) for user, some in facts.items()}
    strategies = dict(zip(users.get("id", []), users.get("reset_strategy", []), strict=True))
    found = ledger.usage_floors(strategies, live, ledger.period_starts(now, tz), tz)
    return {user: floor for user, floor in found.items() if floor is not None}


def of_users(
    session: Session, owned: Owned, floors: Mapping[str, datetime], now: datetime, tz: ZoneInfo
) -> dict[str, Columns]:
    """The usage of the users `owned` names that the portal reads at `now` or later: their
    totals, and the rows from each one's floor (`floors`, by wire id) on."""
    tables: dict[str, Columns] = {}
    _read(session, tables, UsageTotal, select_raw(UsageTotal).where(owned(UsageTotal.user_id)))
    if floors:
        users_of: dict[datetime, list[str]] = defaultdict(list)  # most share a period start
        for user, floor in floors.items():
            users_of[floor].append(user)
        _add_days(session, tables, owned, users_of, now.astimezone(tz).date(), tz)
        _add_hours(session, tables, users_of, tz)
    return tables


def _add_days(
    session: Session,
    tables: dict[str, Columns],
    owned: Owned,
    users_of: dict[datetime, list[str]],
    today: date,
    tz: ZoneInfo,
) -> None:
    """Each user's days from the local day of their floor (a node clock ahead included).

    One read from the earliest of those days over all the users (listed days: one short
    index walk each, not a scan), then each user's rows before their own day are dropped.
    """
    d = UsageDaily
    since: dict[str, str] = {}  # wire ids and days (ISO text, in date order)
    for floor, users in users_of.items():
        since.update(dict.fromkeys(users, floor.astimezone(tz).date().isoformat()))
    last = today + timedelta(days=FUTURE_DAYS)
    days = days_between(date.fromisoformat(min(since.values())), last)
    found: Columns = {}
    for some_days in batches(days):
        query = select_raw(d).where(d.day.in_(some_days), owned(d.user_id))
        found = extend(found, read_table(session, d, query))
    if not found:
        return
    keep = [
        user in since and day >= since[user]
        for user, day in zip(found["user_id"], found["day"], strict=True)
    ]
    tables["daily"] = extend(tables.get("daily", {}), filtered(found, keep))


def _add_hours(
    session: Session, tables: dict[str, Columns], users_of: dict[datetime, list[str]], tz: ZoneInfo
) -> None:
    """The hours of a floor's day from the floor on, for floors that fall mid-day (manual
    resets: few users, each a few seeks)."""
    h = UsageHourly
    for floor, users in users_of.items():
        day = floor.astimezone(tz).date()
        if floor == local_midnight(day, tz):
            continue
        hours = local_hours(floor, local_midnight(day + timedelta(days=1), tz))
        for chunk in batches([uuid.UUID(user) for user in users]):
            query = select_raw(h).where(h.hour.in_(hours), h.user_id.in_(chunk))
            _read(session, tables, h, query)


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
        hours = local_hours(local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz))
        for chunk in batches(ids):
            _read(session, tables, d, select_raw(d).where(d.day == day, d.user_id.in_(chunk)))
            query = select_raw(h).where(h.hour.in_(hours), h.user_id.in_(chunk))
            _read(session, tables, h, query)
    return tables


def user_of(key: str) -> str:
    """The user (canonical uuid text) of a usage change key."""
    return key.partition(":")[0]


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
