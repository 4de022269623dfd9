"""Read side for the portal and the desktop: order lists, revenue, audit trails."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from vpanel_core.models import Order, OrderEvent, Payment


@dataclass(frozen=True, slots=True)
class OrderFilter:
    user_id: uuid.UUID | None = None
    status: str | None = None
    provider: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    flagged_only: bool = False


def list_orders(
    session: Session, where: OrderFilter = OrderFilter(), *, limit: int = 100, offset: int = 0
) -> Sequence[Order]:
    """Newest first."""
    query = select(Order).order_by(Order.created_at.desc(), Order.id)
    if where.user_id is not None:
        query = query.where(Order.user_id == where.user_id)
    if where.status:
        query = query.where(Order.status == where.status)
    if where.provider:
        query = query.where(Order.provider == where.provider)
    if where.since is not None:
        query = query.where(Order.created_at >= where.since)
    if where.until is not None:
        query = query.where(Order.created_at < where.until)
    if where.flagged_only:
        query = query.where(Order.flagged != "")
    return session.scalars(query.limit(limit).offset(offset)).all()


@dataclass(frozen=True, slots=True)
class DayRevenue:
    day: date
    currency: str
    amount_minor: int  # smallest unit of `currency` (micro-USDT for USDT)
    payments: int


def revenue_per_day(
    session: Session, since: datetime, until: datetime, tz: ZoneInfo
) -> list[DayRevenue]:
    """Money that paid orders (refunded payments excluded), per local day and currency."""
    rows = session.execute(
        select(Payment.created_at, Payment.currency, Payment.amount_minor).where(
            Payment.status == "succeeded",
            Payment.created_at >= since,
            Payment.created_at < until,
        )
    )
    totals: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    for created_at, currency, amount in rows:
        bucket = totals[(created_at.astimezone(tz).date(), currency)]
        bucket[0] += amount
        bucket[1] += 1
    return [DayRevenue(d, c, t[0], t[1]) for (d, c), t in sorted(totals.items())]


def audit_trail(session: Session, order_id: uuid.UUID) -> Sequence[OrderEvent]:
    return session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
    ).all()


def payments_of(session: Session, order_id: uuid.UUID) -> Sequence[Payment]:
    return session.scalars(
        select(Payment).where(Payment.order_id == order_id).order_by(Payment.created_at)
    ).all()
