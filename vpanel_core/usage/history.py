"""Dashboard queries over the daily rollup: charts never scan raw usage records."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vpanel_core.models import UsageDaily


@dataclass(frozen=True, slots=True)
class DayUsage:
    day: date
    uplink: int
    downlink: int

    @property
    def total(self) -> int:
        return self.uplink + self.downlink


def usage_per_day(
    session: Session,
    start: date,
    end: date,
    *,
    user_id: uuid.UUID | None = None,
    node_id: uuid.UUID | None = None,
) -> list[DayUsage]:
    """Bytes per operator-local day in [start, end], for one user / node or everyone."""
    query = (
        select(UsageDaily.day, func.sum(UsageDaily.uplink), func.sum(UsageDaily.downlink))
        .where(UsageDaily.day >= start, UsageDaily.day <= end)
        .group_by(UsageDaily.day)
        .order_by(UsageDaily.day)
    )
    if user_id is not None:
        query = query.where(UsageDaily.user_id == user_id)
    if node_id is not None:
        query = query.where(UsageDaily.node_id == node_id)
    return [DayUsage(day, int(up), int(down)) for day, up, down in session.execute(query)]


def top_users(
    session: Session, start: date, end: date, *, limit: int = 10, node_id: uuid.UUID | None = None
) -> list[tuple[uuid.UUID, int]]:
    """The heaviest users over [start, end], largest first."""
    total = func.sum(UsageDaily.uplink + UsageDaily.downlink)
    query = (
        select(UsageDaily.user_id, total)
        .where(UsageDaily.day >= start, UsageDaily.day <= end)
        .group_by(UsageDaily.user_id)
        .order_by(total.desc(), UsageDaily.user_id)
        .limit(limit)
    )
    if node_id is not None:
        query = query.where(UsageDaily.node_id == node_id)
    return [(user_id, int(value)) for user_id, value in session.execute(query)]


def usage_by_node(
    session: Session, user_id: uuid.UUID, start: date, end: date
) -> dict[uuid.UUID, int]:
    query = (
        select(UsageDaily.node_id, func.sum(UsageDaily.uplink + UsageDaily.downlink))
        .where(UsageDaily.user_id == user_id, UsageDaily.day >= start, UsageDaily.day <= end)
        .group_by(UsageDaily.node_id)
    )
    return {node_id: int(value) for node_id, value in session.execute(query)}
