"""Payment → order → grant, exactly once however often or concurrently it is delivered.

1. The payment row is inserted with ON CONFLICT (provider, provider_ref) DO NOTHING:
   a redelivery finds it there and changes nothing.
2. Amount and currency must equal what the order asked for; otherwise the payment is
   kept (status "mismatch") and the order flagged, nothing granted.
3. The order moves to `paid` by one conditional UPDATE; only the delivery that moved
   it grants the plan, under grant id `payment:<provider>:<ref>` (itself idempotent).

Late payments (order already expired or cancelled) are granted too — the customer paid
the exact amount for this order, so the money is not in doubt — and flagged so the
operator sees them. A second payment for an order already paid is recorded and flagged
for a refund, never granted twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from vpanel_core.billing import money, orders
from vpanel_core.billing.orders import OrderStatus
from vpanel_core.models import Grant, Order, Payment, Plan, User
from vpanel_core.services import ledger, users
from vpanel_core.timeutil import utcnow


class Outcome(StrEnum):
    GRANTED = "granted"
    LATE_GRANTED = "late_granted"
    DUPLICATE = "duplicate"
    MISMATCH = "mismatch"
    EXTRA_PAYMENT = "extra_payment"
    REFUNDED = "refunded"
    PARTIAL_REFUND = "partial_refund"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class IncomingPayment:
    provider: str
    ref: str
    amount_minor: int  # in the smallest unit of `currency` (micro-USDT for USDT)
    currency: str
    actor: str
    charge_ref: str = ""
    paid_at: datetime | None = None


def grant_id(provider: str, ref: str) -> str:
    return f"payment:{provider}:{ref}"


def expected_amount(order: Order) -> tuple[int, str]:
    if order.provider == "usdt" and order.pay_amount_micro is not None:
        return order.pay_amount_micro, "USDT"
    return order.amount_minor, order.currency.upper()


def _insert_payment(session: Session, order_id: uuid.UUID, pay: IncomingPayment) -> bool:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(Payment)
        .values(
            id=uuid.uuid4(),
            order_id=order_id,
            provider=pay.provider,
            provider_ref=pay.ref,
            amount_minor=pay.amount_minor,
            currency=pay.currency.upper(),
            status="received",
            charge_ref=pay.charge_ref,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["provider", "provider_ref"])
        .returning(Payment.id)
    )
    return session.execute(stmt).first() is not None


def _set_payment_status(session: Session, pay: IncomingPayment, status: str) -> None:
    session.execute(
        update(Payment)
        .where(Payment.provider == pay.provider, Payment.provider_ref == pay.ref)
        .values(status=status)
        .execution_options(synchronize_session=False)
    )


def settle(session: Session, order_id: uuid.UUID, pay: IncomingPayment) -> Outcome:
    """Record a payment for an order and grant the plan if, and only if, it pays it."""
    if not _insert_payment(session, order_id, pay):
        return Outcome.DUPLICATE
    order = orders.get_order(session, order_id)
    want_amount, want_currency = expected_amount(order)
    got = money.format_amount(pay.amount_minor, pay.currency)
    if (pay.amount_minor, pay.currency.upper()) != (want_amount, want_currency):
        _set_payment_status(session, pay, "mismatch")
        want = money.format_amount(want_amount, want_currency)
        orders.flag(session, order.id, f"payment {pay.ref} of {got}, expected {want}", pay.actor)
        return Outcome.MISMATCH
    paid_at = pay.paid_at or utcnow()
    late = paid_at > order.expires_at or order.status != OrderStatus.PENDING
    left = orders.transition(
        session,
        order.id,
        OrderStatus.PAID,
        allowed_from=[OrderStatus.PENDING, OrderStatus.EXPIRED, OrderStatus.CANCELLED],
        actor=pay.actor,
        reason=f"{pay.provider} payment {pay.ref} of {got}",
        paid_at=paid_at,
        provider_ref=pay.ref[:128],
    )
    if left is None:
        _set_payment_status(session, pay, "extra")
        orders.flag(session, order.id, f"second payment {pay.ref}: refund it", pay.actor)
        return Outcome.EXTRA_PAYMENT
    _set_payment_status(session, pay, "succeeded")
    _grant(session, order, pay)
    if late:
        orders.flag(session, order.id, f"paid after it was {left} or expired", pay.actor)
        return Outcome.LATE_GRANTED
    return Outcome.GRANTED


def settle_free(session: Session, order: Order, actor: str) -> Outcome:
    """An order a coupon made free is paid by nobody: settle it at once, keyed by order."""
    free = IncomingPayment("coupon", str(order.id), 0, order.currency, actor)
    return settle(session, order.id, free)


def _grant(session: Session, order: Order, pay: IncomingPayment) -> None:
    user = session.get(User, order.user_id)
    plan = session.get(Plan, order.plan_id) if order.plan_id else None
    if user is None or plan is None:
        orders.flag(session, order.id, "plan or user deleted: grant by hand", pay.actor)
        return
    users.apply_plan(
        session, user, plan, grant_id=grant_id(pay.provider, pay.ref), source=pay.provider[:32]
    )


def refund(
    session: Session, payment: Payment, *, actor: str, full: bool, note: str = ""
) -> Outcome:
    """A full refund reverses the grant and marks the order refunded; partial only flags."""
    if payment.status == "refunded":
        return Outcome.DUPLICATE
    if not full:
        orders.flag(session, payment.order_id, f"partial refund {note}: review", actor)
        return Outcome.PARTIAL_REFUND
    if payment.status != "succeeded":
        # An extra or mismatched payment sent back: the order's own payment stands.
        _mark_refunded(session, payment)
        orders.flag(session, payment.order_id, f"payment {payment.provider_ref} refunded", actor)
        return Outcome.REFUNDED
    left = orders.transition(
        session,
        payment.order_id,
        OrderStatus.REFUNDED,
        allowed_from=[OrderStatus.PAID],
        actor=actor,
        reason=f"refund of {payment.provider} payment {payment.provider_ref} {note}".strip(),
    )
    if left is None:
        return Outcome.DUPLICATE
    payment_grant = grant_id(payment.provider, payment.provider_ref)
    owner = session.scalar(select(Grant.user_id).where(Grant.id == payment_grant))
    user = session.get(User, owner) if owner is not None else None
    if user is not None:
        ledger.reverse(session, user, payment_grant, reason="refund")
    _mark_refunded(session, payment)
    return Outcome.REFUNDED


def _mark_refunded(session: Session, payment: Payment) -> None:
    session.execute(
        update(Payment)
        .where(Payment.id == payment.id)
        .values(status="refunded")
        .execution_options(synchronize_session=False)
    )
