"""Read models for operator screens: orders, subscriptions, activity; plus the few
admin writes those screens need that no other service offers (plan edit/delete,
subscription stats reset)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from vpanel_core import validation
from vpanel_core.errors import Conflict, ValidationError
from vpanel_core.models import Grant, Node, Order, OrderEvent, Payment, Plan, Subscription, User
from vpanel_core.services.plans import CURRENCIES, NewPlan


@dataclass(frozen=True, slots=True)
class OrderRow:
    id: uuid.UUID
    username: str
    plan_name: str
    status: str
    provider: str
    amount_minor: int
    currency: str
    pay_amount_micro: int | None
    provider_ref: str
    flagged: str
    created_at: datetime
    paid_at: datetime | None


def list_orders(
    session: Session, *, status: str = "", search: str = "", limit: int = 500
) -> list[OrderRow]:
    stmt = (
        select(Order, User.username, Plan.name)
        .join(User, User.id == Order.user_id)
        .outerjoin(Plan, Plan.id == Order.plan_id)
        .order_by(Order.created_at.desc())
        .limit(limit)
    )
    if status == "flagged":
        stmt = stmt.where(Order.flagged != "")
    elif status:
        stmt = stmt.where(Order.status == status)
    if search.strip():
        pattern = f"%{search.strip()}%"
        stmt = stmt.where(or_(User.username.ilike(pattern), Order.provider_ref.ilike(pattern)))
    return [
        OrderRow(
            o.id,
            name,
            plan or "",
            o.status,
            o.provider,
            o.amount_minor,
            o.currency,
            o.pay_amount_micro,
            o.provider_ref,
            o.flagged,
            o.created_at,
            o.paid_at,
        )
        for o, name, plan in session.execute(stmt)
    ]


def order_trail(session: Session, order_id: uuid.UUID) -> Sequence[OrderEvent]:
    return session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
    ).all()


def order_payments(session: Session, order_id: uuid.UUID) -> Sequence[Payment]:
    return session.scalars(
        select(Payment).where(Payment.order_id == order_id).order_by(Payment.created_at)
    ).all()


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    user_id: uuid.UUID
    username: str
    token: str
    short_code: str
    created_at: datetime
    last_access_at: datetime | None
    access_count: int
    last_access_ip: str


def list_subscriptions(
    session: Session, *, search: str = "", offset: int = 0, limit: int = 500
) -> list[SubscriptionRow]:
    stmt = (
        select(Subscription, User.username)
        .join(User, User.id == Subscription.user_id)
        .order_by(Subscription.last_access_at.desc().nulls_last(), User.username)
        .offset(offset)
        .limit(limit)
    )
    if search.strip():
        pattern = f"%{search.strip()}%"
        stmt = stmt.where(or_(User.username.ilike(pattern), Subscription.short_code == search))
    return [
        SubscriptionRow(
            s.user_id,
            name,
            s.token,
            s.short_code,
            s.created_at,
            s.last_access_at,
            s.access_count,
            s.last_access_ip,
        )
        for s, name in session.execute(stmt)
    ]


def reset_access_stats(session: Session, user_id: uuid.UUID) -> None:
    session.execute(
        update(Subscription)
        .where(Subscription.user_id == user_id)
        .values(access_count=0, last_access_at=None, last_access_ip="", last_access_ua="")
        .execution_options(synchronize_session=False)
    )


def update_plan(session: Session, plan: Plan, spec: NewPlan) -> None:
    """Same rules as `plans.create_plan`; existing buyers keep what they were granted."""
    name = spec.name.strip()
    if not 1 <= len(name) <= 80:
        raise ValidationError("plan name must be 1-80 characters")
    if spec.price_minor < 0:
        raise ValidationError(f"price must not be negative, got {spec.price_minor}")
    currency = spec.currency.upper()
    if currency not in CURRENCIES:
        raise ValidationError(f"currency must be one of {', '.join(sorted(CURRENCIES))}")
    if not 1 <= spec.duration_days <= validation.MAX_DAYS:
        raise ValidationError(f"duration must be 1-{validation.MAX_DAYS} days")
    validation.byte_count(spec.traffic_bytes)
    strategy = validation.reset_strategy(spec.reset_strategy)
    clash = select(Plan.id).where(Plan.name == name, Plan.id != plan.id)
    if session.scalars(clash).first() is not None:
        raise Conflict(f"a plan named {name!r} already exists")
    plan.name, plan.description = name, spec.description
    plan.price_minor, plan.currency = spec.price_minor, currency
    plan.duration_days, plan.traffic_bytes = spec.duration_days, spec.traffic_bytes
    plan.reset_strategy, plan.node_groups = strategy.value, list(spec.node_groups)
    plan.visible, plan.sort_order = spec.visible, spec.sort_order
    session.flush()


def delete_plan(session: Session, plan: Plan) -> None:
    """Users and orders keep their grants; their plan link becomes empty."""
    session.delete(plan)
    session.flush()


@dataclass(frozen=True, slots=True)
class ActivityEntry:
    at: datetime
    kind: str
    subject: str
    detail: str


def recent_activity(session: Session, limit: int = 300) -> list[ActivityEntry]:
    """Grants, order state changes and node pushes, newest first, from the facts."""
    entries: list[ActivityEntry] = []
    grants = session.execute(
        select(Grant, User.username)
        .join(User, User.id == Grant.user_id)
        .order_by(Grant.created_at.desc())
        .limit(limit)
    )
    for grant, name in grants:
        days = grant.seconds / 86400
        what = (
            f"{grant.kind} {days:g}d {grant.bytes}B"
            if grant.kind != "usage_reset"
            else "usage reset"
        )
        entries.append(
            ActivityEntry(grant.created_at, "grant", name, f"{what} ({grant.source}) {grant.note}")
        )
    events = session.execute(
        select(OrderEvent, User.username)
        .join(Order, Order.id == OrderEvent.order_id)
        .join(User, User.id == Order.user_id)
        .order_by(OrderEvent.at.desc())
        .limit(limit)
    )
    for event, name in events:
        entries.append(
            ActivityEntry(
                event.at,
                "order",
                name,
                f"{event.from_status or '∅'} → {event.to_status} by {event.actor}: {event.reason}",
            )
        )
    pushes = session.execute(
        select(Node.name, Node.last_push_at, Node.last_push_result).where(
            Node.last_push_at.is_not(None)
        )
    )
    for name, at, result in pushes:
        entries.append(ActivityEntry(at, "node", name, result[:200]))
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]
