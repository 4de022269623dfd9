"""Chart queries over the day rollups (per user, per node, everyone)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vpanel_core.batching import batches, days_between
from vpanel_core.models import UsageDaily, UsageNodeDaily, UsageTotal
from vpanel_core.usage.period import BULK_USERS


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
    if user_id is not None:
        # Days listed, not ranged: seeks into the (day, user) key instead of a scan.
        days = days_between(start, end)
        u = UsageDaily
        query = select(u.day, func.sum(u.uplink), func.sum(u.downlink)).where(
            u.day.in_(days), u.user_id == user_id
        )
    else:
        n = UsageNodeDaily
        query = select(n.day, func.sum(n.uplink), func.sum(n.downlink)).where(
            n.day >= start, n.day <= end
        )
        if node_id is not None:
            query = query.where(n.node_id == node_id)
    rows = session.execute(query.group_by(query.selected_columns[0]).order_by("day"))
    return [DayUsage(day, int(up), int(down)) for day, up, down in rows]


def top_users(
    session: Session, start: date, end: date, *, limit: int = 10
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
    return [(user_id, int(value)) for user_id, value in session.execute(query)]


def last_nodes(session: Session, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """The node each user's latest traffic went through (users never seen are absent).
    Many users are read in one pass over the table, not one IN query per few hundred
    (a portal pull or a file for 100,000 users)."""
    query = select(UsageTotal.user_id, UsageTotal.last_node_id).where(
        UsageTotal.last_node_id.is_not(None)
    )
    if len(user_ids) > BULK_USERS:
        wanted = set(user_ids)
        rows = session.execute(query)
        return {user: node for user, node in rows if user in wanted and node is not None}
    found: dict[uuid.UUID, uuid.UUID] = {}
    for chunk in batches(user_ids):
        rows = session.execute(query.where(UsageTotal.user_id.in_(chunk)))
        found.update({user: node for user, node in rows if node is not None})
    return found
