"""Stripe webhook events → orders, each event applied at most once.

The signature is checked by `stripe.Webhook.construct_event` over the raw body before
anything is read. The event id is stored in the same transaction that applies it, so
a redelivery (Stripe retries for days, in any order) is acknowledged and ignored, and
a failure rolls both back so Stripe's retry gets another chance.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from vpanel_core.billing import fulfilment, orders
from vpanel_core.billing.fulfilment import IncomingPayment
from vpanel_core.billing.orders import OrderStatus
from vpanel_core.errors import DomainError, NotFound
from vpanel_core.models import Payment, WebhookEvent

Event = dict[str, Any]


class BadSignature(DomainError):
    code = "BAD_SIGNATURE"


class MalformedEvent(DomainError):
    """Validly signed but not shaped like the event type it names: nothing is applied."""

    code = "MALFORMED_EVENT"


class RetryLater(DomainError):
    """Not applicable yet (e.g. a refund delivered before its payment): Stripe retries."""

    code = "RETRY_LATER"
    http_status = 409


def verified_event(payload: bytes, signature: str, secret: str) -> Event:
    """The event if `Stripe-Signature` is valid and fresh; BadSignature otherwise."""
    try:
        # The header alone (construct_event would also build an SDK object and fail with
        # AttributeError on a validly signed body that is JSON but not an object).
        stripe.WebhookSignature.verify_header(
            payload.decode(), signature, secret, stripe.Webhook.DEFAULT_TOLERANCE
        )
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, ValueError):
        raise BadSignature("invalid or stale Stripe signature") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise BadSignature("not a Stripe event")
    return event


def handle_event(session: Session, event: Event) -> str:
    """Apply one verified event; returns what happened (stored with the event id)."""
    if not _remember(session, event):
        return "duplicate event"
    handler = HANDLERS.get(str(event.get("type")))
    try:
        outcome = handler(session, event) if handler else "ignored"
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        # Raised out of the caller's transaction: the event id is not remembered either.
        raise MalformedEvent(
            f"{str(event.get('type'))[:64]} event is malformed ({type(exc).__name__})"
        ) from None
    session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id == event["id"])
        .values(outcome=outcome[:255])
        .execution_options(synchronize_session=False)
    )
    return outcome


def _remember(session: Session, event: Event) -> bool:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(WebhookEvent)
        .values(
            id=event["id"],
            provider="stripe",
            type=str(event.get("type", ""))[:64],
            outcome="",
            received_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(WebhookEvent.id)
    )
    return session.execute(stmt).first() is not None


def _actor(event: Event) -> str:
    return f"stripe:webhook:{event['id']}"


def _order_of(session: Session, checkout: dict[str, Any]) -> uuid.UUID | None:
    ref = checkout.get("client_reference_id") or (checkout.get("metadata") or {}).get("order_id")
    try:
        return orders.get_order(session, str(ref)).id
    except NotFound:
        return None


def _paid(session: Session, event: Event) -> str:
    checkout = event["data"]["object"]
    order_id = _order_of(session, checkout)
    if order_id is None:
        return f"no order for checkout {checkout.get('id')}: review in Stripe"
    if checkout.get("payment_status") != "paid":
        orders.record_event(
            session, order_id, "pending", "pending", _actor(event), "checkout done, payment pending"
        )
        return "awaiting payment"
    payment = IncomingPayment(
        provider="stripe",
        ref=str(checkout["id"]),
        amount_minor=int(checkout.get("amount_total") or 0),
        currency=str(checkout.get("currency") or ""),
        actor=_actor(event),
        charge_ref=str(checkout.get("payment_intent") or ""),
        paid_at=datetime.fromtimestamp(int(event["created"]), UTC),
    )
    return fulfilment.settle(session, order_id, payment).value


def _closed(status: OrderStatus, reason: str) -> Callable[[Session, Event], str]:
    def handle(session: Session, event: Event) -> str:
        order_id = _order_of(session, event["data"]["object"])
        if order_id is None:
            return "no order"
        order = orders.get_order(session, order_id)
        closed = orders.close_unpaid(session, order, status, _actor(event), reason)
        return status.value if closed else f"order already {order.status}"

    return handle


def _refunded(session: Session, event: Event) -> str:
    charge = event["data"]["object"]
    payment = session.scalars(
        select(Payment).where(
            Payment.provider == "stripe", Payment.charge_ref == str(charge.get("payment_intent"))
        )
    ).first()
    if payment is None:
        raise RetryLater(f"refund of a payment not seen yet ({charge.get('payment_intent')})")
    full = bool(charge.get("refunded")) or charge.get("amount_refunded") == charge.get("amount")
    note = f"{charge.get('amount_refunded')} of {charge.get('amount')} {charge.get('currency')}"
    return fulfilment.refund(session, payment, actor=_actor(event), full=full, note=note).value


HANDLERS: dict[str, Callable[[Session, Event], str]] = {
    "checkout.session.completed": _paid,
    "checkout.session.async_payment_succeeded": _paid,
    "checkout.session.async_payment_failed": _closed(OrderStatus.CANCELLED, "payment failed"),
    "checkout.session.expired": _closed(OrderStatus.EXPIRED, "checkout expired at Stripe"),
    "charge.refunded": _refunded,
}
