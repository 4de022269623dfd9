"""Dashboard figures: counts, revenue and traffic per operator-local day.

Day boundaries are the operator's time zone (a "today" that flips at UTC midnight
would be wrong for an operator in Shanghai). Per-day series are computed in one
table scan with one CASE bucket per day, which works the same on SQLite and
PostgreSQL and respects DST (days are not assumed to be 24 hours).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from vpanel_core import settings
from vpanel_core.entitlement import Status
from vpanel_core.models import Node, Payment, UsageDaily, UsageNodeDaily, User
from vpanel_core.services.user_query import status_snapshot
from vpanel_core.timeutil import local_midnight, require_aware, utcnow


@dataclass(frozen=True, slots=True)
class DayValue:
    day: date
    value: int


@dataclass(frozen=True, slots=True)
class TopUser:
    user_id: uuid.UUID
    username: str
    bytes: int


@dataclass(frozen=True, slots=True)
class Overview:
    users_total: int
    users_active: int
    revenue_today: dict[str, int]
    revenue_month: dict[str, int]
    traffic_today: int
    traffic_month: int
    nodes_up: int
    nodes_down: int
    nodes_disabled: int
    usage_per_day: list[DayValue]
    revenue_per_day: list[DayValue]
    top_users: list[TopUser]


def day_bounds(today: date, days: int, tz: ZoneInfo) -> list[tuple[date, datetime, datetime]]:
    """(day, start, end) for the `days` local days ending with `today`."""
    result = []
    for back in range(days - 1, -1, -1):
        day = today - timedelta(days=back)
        result.append((day, local_midnight(day, tz), local_midnight(day + timedelta(1), tz)))
    return result


def _per_day(
    session: Session,
    column: Any,
    amount: Any,
    bounds: Sequence[tuple[date, datetime, datetime]],
    *conditions: Any,
) -> list[DayValue]:
    buckets = [
        func.coalesce(
            func.sum(case((column >= start, case((column < end, amount), else_=0)), else_=0)), 0
        )
        for _, start, end in bounds
    ]
    stmt = select(*buckets).where(column >= bounds[0][1], column < bounds[-1][2], *conditions)
    row = session.execute(stmt).one()
    return [DayValue(day, int(value)) for (day, _, _), value in zip(bounds, row, strict=True)]


def revenue_between(session: Session, start: datetime, end: datetime) -> dict[str, int]:
    """Succeeded payments per currency, in minor units."""
    stmt = (
        select(Payment.currency, func.sum(Payment.amount_minor))
        .where(Payment.status == "succeeded", Payment.created_at >= start, Payment.created_at < end)
        .group_by(Payment.currency)
    )
    return {currency: int(total) for currency, total in session.execute(stmt)}


def traffic_between(session: Session, first: date, last: date) -> int:
    """Bytes of known users over local days [first, last], from the node-day rollup."""
    total = func.coalesce(func.sum(UsageNodeDaily.uplink + UsageNodeDaily.downlink), 0)
    stmt = select(total).where(UsageNodeDaily.day >= first, UsageNodeDaily.day <= last)
    return int(session.scalar(stmt) or 0)


def traffic_per_day(session: Session, days: Sequence[date]) -> list[DayValue]:
    bytes_ = func.sum(UsageNodeDaily.uplink + UsageNodeDaily.downlink)
    stmt = (
        select(UsageNodeDaily.day, bytes_)
        .where(UsageNodeDaily.day >= days[0], UsageNodeDaily.day <= days[-1])
        .group_by(UsageNodeDaily.day)
    )
    found = {day: int(value) for day, value in session.execute(stmt)}
    return [DayValue(day, found.get(day, 0)) for day in days]


def top_users(session: Session, first: date, limit: int = 10) -> list[TopUser]:
    total = func.sum(UsageDaily.uplink + UsageDaily.downlink)
    heaviest = (
        select(UsageDaily.user_id, total.label("bytes"))
        .where(UsageDaily.day >= first)
        .group_by(UsageDaily.user_id)
        .subquery()
    )
    stmt = (
        select(User.id, User.username, heaviest.c.bytes)
        .join(heaviest, heaviest.c.user_id == User.id)
        .order_by(heaviest.c.bytes.desc(), User.username)
        .limit(limit)
    )
    return [TopUser(uid, name, int(value)) for uid, name, value in session.execute(stmt)]


def node_health(session: Session) -> tuple[int, int, int]:
    """(up, down, disabled): a node is up when its last push did not fail.

    `last_push_result` is the node layer's JSON summary (`vpanel_core.nodes.fleet`).
    """
    up = down = disabled = 0
    for enabled, result in session.execute(select(Node.enabled, Node.last_push_result)):
        if not enabled:
            disabled += 1
        elif _push_succeeded(result):
            up += 1
        else:
            down += 1
    return up, down, disabled


def _push_succeeded(result: str) -> bool:
    try:
        summary = json.loads(result) if result else {}
    except ValueError:
        return False
    return isinstance(summary, dict) and summary.get("outcome") in ("ok", "unchanged")


def overview(session: Session, now: datetime | None = None, days: int = 30) -> Overview:
    now = require_aware(now or utcnow(), "now")
    tz = settings.operator_zone(session)
    today = now.astimezone(tz).date()
    day_start = local_midnight(today, tz)
    month_start = local_midnight(today.replace(day=1), tz)
    tomorrow = local_midnight(today + timedelta(1), tz)
    bounds = day_bounds(today, days, tz)
    statuses = status_snapshot(session, now)
    up, down, disabled = node_health(session)
    payments_ok = Payment.status == "succeeded"
    return Overview(
        users_total=len(statuses),
        users_active=sum(1 for s in statuses.values() if s is Status.ACTIVE),
        revenue_today=revenue_between(session, day_start, tomorrow),
        revenue_month=revenue_between(session, month_start, tomorrow),
        traffic_today=traffic_between(session, today, today),
        traffic_month=traffic_between(session, today.replace(day=1), today),
        nodes_up=up,
        nodes_down=down,
        nodes_disabled=disabled,
        usage_per_day=traffic_per_day(session, [day for day, _, _ in bounds]),
        revenue_per_day=_per_day(
            session, Payment.created_at, Payment.amount_minor, bounds, payments_ok
        ),
        top_users=top_users(session, today.replace(day=1)),
    )
