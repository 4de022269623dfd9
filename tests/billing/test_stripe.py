"""Stripe Checkout with the real SDK against a local Stripe, webhooks over HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from tests.billing.conftest import LivePortal, Shop
from tests.fixtures.stripe_emulator import API_KEY, WEBHOOK_SECRET, StripeEmulator, sign
from vpanel_core.billing import orders
from vpanel_core.billing.config import BillingConfig
from vpanel_core.billing.stripe_pay import checkout
from vpanel_core.models import Grant, Order, OrderEvent, User, WebhookEvent
from vpanel_core.services import ledger


def stripe_config(emulator: StripeEmulator) -> BillingConfig:
    return BillingConfig(
        stripe_secret_key=API_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=emulator.url,
    )


@pytest.fixture
def portal(live_portal: LivePortal, stripe_emulator: StripeEmulator) -> Iterator[LivePortal]:
    from portal.billing import configure

    configure(live_portal.app, stripe_config(stripe_emulator))
    stripe_emulator.webhook_url = f"{live_portal.url}/webhooks/stripe"
    yield live_portal


def buy_by_card(shop: Shop, portal: LivePortal, coupon: str = "") -> tuple[Order, str]:
    """The customer presses "Pay by card"; returns the order and the Stripe session id."""
    reply = portal.http.post(
        f"{portal.url}/checkout",
        data={
            "plan_id": str(shop.plan.id),
            "method": "stripe",
            "coupon": coupon,
            "csrf_token": portal.csrf,
        },
        allow_redirects=False,
        timeout=30,
    )
    assert reply.status_code == 303, reply.text
    session_id = reply.headers["Location"].rsplit("/", 1)[1]
    with shop.tx() as session:
        order = session.scalars(select(Order).where(Order.provider_ref == session_id)).one()
    return order, session_id


def order_state(shop: Shop, order: Order) -> Order:
    with shop.tx() as session:
        return orders.get_order(session, order.id)


def is_active(shop: Shop) -> bool:
    with shop.tx() as session:
        user = session.get(User, shop.user.id)
        assert user is not None
        return ledger.entitlement(session, user).status.value == "active"


def test_checkout_session_is_created_with_the_sdk_idempotently(
    shop: Shop, stripe_emulator: StripeEmulator
) -> None:
    with shop.tx() as session:
        user = session.get(User, shop.user.id)
        order = orders.create_order(session, user, shop.plan, provider="stripe", actor="customer:1")
    client = checkout.make_client(stripe_config(stripe_emulator))
    first = checkout.create_session(
        client, order, shop.plan, success_url="https://p/ok", cancel_url="https://p/no"
    )
    again = checkout.create_session(
        client, order, shop.plan, success_url="https://p/ok", cancel_url="https://p/no"
    )
    assert first == again and len(stripe_emulator.sessions) == 1
    _method, path, sent = stripe_emulator.requests[0]
    assert path == "/v1/checkout/sessions"
    assert sent["mode"] == "payment" and sent["client_reference_id"] == str(order.id)
    assert sent["metadata"]["order_id"] == str(order.id)
    assert sent["line_items"][0]["price_data"] == {
        "currency": "usd",
        "unit_amount": "500",
        "product_data": {"name": "Monthly"},
    }
    assert int(sent["expires_at"]) == int(order.expires_at.timestamp())
    assert first.url.startswith(stripe_emulator.url)


def test_paid_checkout_webhook_activates_the_customer(
    shop: Shop, portal: LivePortal, stripe_emulator: StripeEmulator
) -> None:
    order, session_id = buy_by_card(shop, portal)
    assert not is_active(shop)
    event = stripe_emulator.pay(session_id)
    reply = stripe_emulator.deliver(event)
    assert reply.status_code == 200 and reply.json()["outcome"] == "granted"
    assert order_state(shop, order).status == "paid" and is_active(shop)
    receipt = portal.http.get(f"{portal.url}/orders/{order.id}", timeout=30)
    assert "Receipt" in receipt.text and "5.00 USD" in receipt.text and session_id in receipt.text
    history = portal.http.get(f"{portal.url}/orders", timeout=30)
    assert f'data-order="{order.id}" data-status="paid"' in history.text
    with shop.tx() as session:
        actors = session.scalars(
            select(OrderEvent.actor).where(OrderEvent.order_id == order.id)
        ).all()
    assert actors == [f"customer:{shop.user.id}", f"stripe:webhook:{event['id']}"]


def test_ten_concurrent_redeliveries_over_http_grant_once(
    shop: Shop, portal: LivePortal, stripe_emulator: StripeEmulator
) -> None:
    _order, session_id = buy_by_card(shop, portal)
    event = stripe_emulator.pay(session_id)
    replies: list[int] = []
    barrier = threading.Barrier(10)

    def deliver() -> None:
        barrier.wait()
        replies.append(stripe_emulator.deliver(event).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert replies == [200] * 10
    with shop.tx() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Grant).where(Grant.id.like("payment:%"))
            )
            == 1
        )


@pytest.mark.parametrize(
    "forgery",
    ["wrong secret", "stale timestamp", "no header", "tampered body"],
)
def test_forged_or_stale_webhooks_are_rejected_and_change_nothing(
    shop: Shop, portal: LivePortal, stripe_emulator: StripeEmulator, forgery: str
) -> None:
    order, session_id = buy_by_card(shop, portal)
    event = stripe_emulator.pay(session_id)
    if forgery == "wrong secret":
        reply = stripe_emulator.deliver(event, secret="whsec_attacker")
    elif forgery == "stale timestamp":
        reply = stripe_emulator.deliver(event, timestamp=int(time.time()) - 600)
    elif forgery == "no header":
        reply = stripe_emulator.post_raw(b'{"id": "evt_x"}', None)
    else:
        genuine = sign(b'{"id": "evt_x", "type": "ping"}', WEBHOOK_SECRET)
        reply = stripe_emulator.post_raw(b'{"id": "evt_x", "type": "charge.refunded"}', genuine)
    assert reply.status_code == 400 and reply.json()["code"] == "BAD_SIGNATURE"
    with shop.tx() as session:
        assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
    assert order_state(shop, order).status == "pending" and not is_active(shop)


def test_amount_or_currency_mismatch_is_flagged_not_granted(
    shop: Shop, portal: LivePortal, stripe_emulator: StripeEmulator
) -> None:
    order, session_id = buy_by_card(shop, portal)
    reply = stripe_emulator.deliver(stripe_emulator.pay(session_id, amount=1, currency="eur"))
    assert reply.status_code == 200 and reply.json()["outcome"] == "mismatch"
    stored = order_state(shop, order)
    assert stored.status == "pending" and "expected 5.00 USD" in stored.flagged
    assert not is_active(shop)


def test_async_payment_succeeds_or_fails(
    shop: Shop, portal: LivePortal, stripe_emulator: StripeEmulator
) -> None:
    good, good_session = buy_by_card(shop, portal)
    bad, bad_session = buy_by_card(shop, portal)
    for session_id in (good_session, bad_session):
        reply = stripe_emulator.deliver(stripe_emulator.pay(session_id, async_payment=True))
        assert reply.json()["outcome"] == "awaiting payment"
    assert order_state(shop, good).status == "pending"
    stripe_emulator.deliver(stripe_emulator.async_result(good_session, succeeded=True))
    stripe_emulator.deliver(stripe_emulator.async_result(bad_session, succeeded=False))
    assert order_state(shop, good).status == "paid"
    assert order_state(shop, bad).status == "cancelled"


def test_expired_checkout_expires_the_order_and_a_late_paid_event_is_flagged(
    shop: Shop, portal: LivePortal, stripe_emulator: StripeEmulator
) -> None:
    order, session_id = buy_by_card(shop, portal)
    expired = stripe_emulator.expire(session_id)
    assert stripe_emulator.deliver(expired).json()["outcome"] == "expired"
    assert order_state(shop, order).status == "expired"
    reply = stripe_emulator.deliver(stripe_emulator.pay(session_id))
    assert reply.json()["outcome"] == "late_granted"
    assert "after" in order_state(shop, order).flagged


def test_full_refund_reverses_the_plan_partial_refund_is_flagged(
    shop: Shop, portal: LivePortal, stripe_emulator: StripeEmulator
) -> None:
    order, session_id = buy_by_card(shop, portal)
    stripe_emulator.deliver(stripe_emulator.pay(session_id))
    partial = stripe_emulator.deliver(stripe_emulator.refund(session_id, amount=100))
    assert partial.json()["outcome"] == "partial_refund" and is_active(shop)
    full = stripe_emulator.deliver(stripe_emulator.refund(session_id))
    assert full.json()["outcome"] == "refunded"
    assert order_state(shop, order).status == "refunded" and not is_active(shop)


def test_refund_arriving_before_its_payment_is_retried_not_lost(
    shop: Shop, portal: LivePortal, stripe_emulator: StripeEmulator
) -> None:
    order, session_id = buy_by_card(shop, portal)
    paid = stripe_emulator.pay(session_id)
    refund = stripe_emulator.refund(session_id)
    assert stripe_emulator.deliver(refund).status_code == 409
    assert stripe_emulator.deliver(paid).status_code == 200
    assert stripe_emulator.deliver(refund).json()["outcome"] == "refunded"
    assert order_state(shop, order).status == "refunded"
