"""Orders: a state machine whose every change is one conditional UPDATE plus an audit row.

pending → paid | expired | cancelled;  paid → refunded;  expired/cancelled → paid only
for a late payment (flagged for the operator). Because each change is
`UPDATE … WHERE status IN (allowed)`, concurrent deliveries move an order once.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vpanel_core.billing import coupons
from vpanel_core.billing.errors import CouponInvalid, OrderNotPending
from vpanel_core.billing.tron import amounts
from vpanel_core.errors import NotFound, ValidationError
from vpanel_core.models import Coupon, Order, OrderEvent, Plan, User
from vpanel_core.timeutil import utcnow

PROVIDERS = ("stripe", "usdt")
DEFAULT_TTL = {"stripe": timedelta(hours=1), "usdt": timedelta(minutes=30)}


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


def record_event(
    session: Session, order_id: uuid.UUID, from_status: str, to_status: str, actor: str, reason: str
) -> None:
    session.add(
        OrderEvent(
            order_id=order_id,
            from_status=from_status,
            to_status=to_status,
            actor=actor[:64],
            reason=reason,
        )
    )
    session.flush()


def transition(
    session: Session,
    order_id: uuid.UUID,
    to_status: OrderStatus,
    *,
    allowed_from: Collection[OrderStatus],
    actor: str,
    reason: str = "",
    **values: Any,
) -> str | None:
    """Move the order if its status is allowed; returns the status it left, else None."""
    current = session.scalar(select(Order.status).where(Order.id == order_id))
    if current is None:
        raise NotFound(f"no order {order_id}")
    if current not in allowed_from:
        return None
    moved = session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status == current)
        .values(status=to_status.value, **values)
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    ).first()
    if moved is None:
        return None
    record_event(session, order_id, current, to_status.value, actor, reason)
    return current


def flag(session: Session, order_id: uuid.UUID, note: str, actor: str) -> None:
    """Mark an order for the operator's attention (kept in the audit trail too)."""
    status = session.scalar(select(Order.status).where(Order.id == order_id)) or ""
    session.execute(
        update(Order)
        .where(Order.id == order_id)
        .values(flagged=note[:255])
        .execution_options(synchronize_session=False)
    )
    record_event(session, order_id, status, status, actor, f"flagged: {note}")


def get_order(session: Session, order_id: uuid.UUID | str) -> Order:
    """Fresh from the database (another transaction may just have changed it)."""
    try:
        key = order_id if isinstance(order_id, uuid.UUID) else uuid.UUID(str(order_id))
    except ValueError:
        raise NotFound(f"no order {order_id!r}") from None
    order = session.scalars(
        select(Order).where(Order.id == key).execution_options(populate_existing=True)
    ).first()
    if order is None:
        raise NotFound(f"no order {order_id}")
    return order


def create_order(
    session: Session,
    user: User,
    plan: Plan,
    *,
    provider: str,
    actor: str,
    coupon_code: str = "",
    now: datetime | None = None,
    ttl: timedelta | None = None,
) -> Order:
    """A pending order for a plan with any coupon applied; USDT orders get a unique amount."""
    now = now or utcnow()
    if provider not in PROVIDERS:
        raise ValidationError(f"payment method must be one of {', '.join(PROVIDERS)}")
    if not plan.visible:
        raise NotFound(f"no plan {plan.name!r} on sale")
    discount, code = 0, coupons.normalize_code(coupon_code)
    if code:
        coupon = session.get(Coupon, code)
        if coupon is None:
            raise CouponInvalid(f"no coupon {code}")
        discount = coupons.discount_for(coupon, plan, now)
    order = Order(
        user_id=user.id,
        plan_id=plan.id,
        status=OrderStatus.PENDING.value,
        provider=provider,
        amount_minor=plan.price_minor - discount,
        discount_minor=discount,
        currency=plan.currency,
        coupon_code=code,
        created_at=now,
        expires_at=now + (ttl or DEFAULT_TTL[provider]),
    )
    session.add(order)
    session.flush()
    if code:
        coupons.take_use(session, code)
    if provider == "usdt" and order.amount_minor > 0:
        amounts.allocate_amount(session, order)
    record_event(session, order.id, "", OrderStatus.PENDING.value, actor, f"plan {plan.name}")
    return order


def close_unpaid(
    session: Session, order: Order, to_status: OrderStatus, actor: str, reason: str
) -> bool:
    """Expire or cancel a pending order, giving its coupon use back; False if not pending."""
    left = transition(
        session, order.id, to_status, allowed_from=[OrderStatus.PENDING], actor=actor, reason=reason
    )
    if left is not None and order.coupon_code:
        coupons.give_back_use(session, order.coupon_code)
    return left is not None


def cancel_order(session: Session, order: Order, actor: str, reason: str = "cancelled") -> None:
    if not close_unpaid(session, order, OrderStatus.CANCELLED, actor, reason):
        raise OrderNotPending(f"order {order.id} is {get_order(session, order.id).status}")


def expire_order(session: Session, order: Order, actor: str, reason: str) -> bool:
    return close_unpaid(session, order, OrderStatus.EXPIRED, actor, reason)


def expire_overdue(session: Session, now: datetime | None = None) -> int:
    """Expire pending orders past their time; returns how many were expired."""
    now = now or utcnow()
    overdue = session.scalars(
        select(Order).where(Order.status == OrderStatus.PENDING.value, Order.expires_at <= now)
    ).all()
    return sum(
        expire_order(session, order, "system:expiry", "not paid in time") for order in overdue
    )
