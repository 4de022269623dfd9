"""Payment → grant: exactly once, amounts checked, late and extra payments kept and flagged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.billing.conftest import GiB, Shop, run_concurrently
from vpanel_core.billing import fulfilment, orders
from vpanel_core.billing.fulfilment import IncomingPayment, Outcome
from vpanel_core.models import Grant, Order, OrderEvent, Payment, User
from vpanel_core.services import ledger
from vpanel_core.timeutil import utcnow


def new_order(shop: Shop, provider: str = "stripe") -> Order:
    with shop.tx() as session:
        user = session.get(User, shop.user.id)
        assert user is not None
        return orders.create_order(
            session, user, shop.plan, provider=provider, actor=f"customer:{user.id}"
        )


def stripe_payment(ref: str = "cs_1", amount: int = 500, currency: str = "usd") -> IncomingPayment:
    return IncomingPayment("stripe", ref, amount, currency, actor="stripe:webhook:evt_1")


def expiry_of(shop: Shop):
    with shop.tx() as session:
        user = session.get(User, shop.user.id)
        assert user is not None
        return ledger.entitlement(session, user)


def test_payment_grants_plan_time_traffic_and_node_groups(shop: Shop) -> None:
    order = new_order(shop)
    with shop.tx() as session:
        assert fulfilment.settle(session, order.id, stripe_payment()) is Outcome.GRANTED
    ent = expiry_of(shop)
    assert ent.status.value == "active"
    assert ent.allowance == 100 * GiB
    assert ent.expiry is not None
    assert timedelta(days=29, hours=23) < ent.expiry - utcnow() <= timedelta(days=30)
    with shop.tx() as session:
        user = session.get(User, shop.user.id)
        assert user is not None and user.node_groups == ["eu"]
        grant = session.get(Grant, "payment:stripe:cs_1")
        assert grant is not None and grant.user_id == shop.user.id


def test_renewal_before_expiry_extends_from_current_expiry(shop: Shop) -> None:
    first = new_order(shop)
    with shop.tx() as session:
        fulfilment.settle(session, first.id, stripe_payment("cs_first"))
    expiry_after_first = expiry_of(shop).expiry
    second = new_order(shop)
    with shop.tx() as session:
        fulfilment.settle(session, second.id, stripe_payment("cs_second"))
    assert expiry_after_first is not None
    assert expiry_of(shop).expiry == expiry_after_first + timedelta(days=30)


def test_same_payment_twice_grants_once_and_moves_order_once(shop: Shop) -> None:
    order = new_order(shop)
    with shop.tx() as session:
        assert fulfilment.settle(session, order.id, stripe_payment()) is Outcome.GRANTED
    with shop.tx() as session:
        assert fulfilment.settle(session, order.id, stripe_payment()) is Outcome.DUPLICATE
    with shop.tx() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Grant).where(Grant.id.like("payment:%"))
            )
            == 1
        )
        paid_events = session.scalars(
            select(OrderEvent).where(
                OrderEvent.order_id == order.id, OrderEvent.to_status == "paid"
            )
        ).all()
        assert [e.actor for e in paid_events] == ["stripe:webhook:evt_1"]


def test_ten_concurrent_duplicate_deliveries_grant_once(shop: Shop) -> None:
    order = new_order(shop)
    before = expiry_of(shop).expiry
    results = run_concurrently(
        shop.db, 10, lambda session: fulfilment.settle(session, order.id, stripe_payment())
    )
    assert sorted(str(r) for r in results) == ["duplicate"] * 9 + ["granted"]
    with shop.tx() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 1
        transitions = session.scalars(
            select(OrderEvent.to_status).where(OrderEvent.order_id == order.id)
        ).all()
        assert transitions == ["pending", "paid"]
    assert before is None
    ent = expiry_of(shop)
    assert ent.expiry is not None and ent.expiry - utcnow() <= timedelta(days=30)


def test_ten_concurrent_different_payments_for_one_order_grant_once(shop: Shop) -> None:
    order = new_order(shop)
    results = run_concurrently(
        shop.db,
        10,
        lambda session: fulfilment.settle(session, order.id, stripe_payment(f"cs_{id(session)}")),
    )
    assert sorted(str(r) for r in results) == ["extra_payment"] * 9 + ["granted"]
    with shop.tx() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Grant).where(Grant.id.like("payment:%"))
            )
            == 1
        )
        assert session.scalar(select(func.count()).select_from(Payment)) == 10
        stored = session.get(Order, order.id)
        assert stored is not None and "refund it" in stored.flagged


@pytest.mark.parametrize(
    ("amount", "currency"), [(499, "usd"), (500, "eur")], ids=["amount", "currency"]
)
def test_mismatched_payment_is_kept_and_flagged_not_granted(
    shop: Shop, amount: int, currency: str
) -> None:
    order = new_order(shop)
    with shop.tx() as session:
        outcome = fulfilment.settle(session, order.id, stripe_payment("cs_x", amount, currency))
    assert outcome is Outcome.MISMATCH
    with shop.tx() as session:
        stored = session.get(Order, order.id)
        assert stored is not None and stored.status == "pending"
        assert "expected 5.00 USD" in stored.flagged
        payment = session.scalars(select(Payment)).one()
        assert (payment.status, payment.amount_minor) == ("mismatch", amount)
        assert session.get(Grant, "payment:stripe:cs_x") is None


def test_payment_after_expiry_is_granted_and_flagged(shop: Shop) -> None:
    order = new_order(shop)
    with shop.tx() as session:
        assert orders.expire_overdue(session, now=order.expires_at) == 1
    with shop.tx() as session:
        assert fulfilment.settle(session, order.id, stripe_payment()) is Outcome.LATE_GRANTED
    with shop.tx() as session:
        stored = session.get(Order, order.id)
        assert stored is not None and stored.status == "paid"
        assert "after" in stored.flagged
        trail = session.scalars(
            select(OrderEvent.to_status).where(OrderEvent.order_id == order.id)
        ).all()
        assert trail == ["pending", "expired", "paid", "paid"]
    assert expiry_of(shop).status.value == "active"


def test_full_refund_reverses_the_grant_and_refunds_the_order(shop: Shop) -> None:
    order = new_order(shop)
    with shop.tx() as session:
        fulfilment.settle(session, order.id, stripe_payment())
    for _ in range(2):
        with shop.tx() as session:
            payment = session.scalars(select(Payment)).one()
            fulfilment.refund(session, payment, actor="operator:bob", full=True)
    ent = expiry_of(shop)
    assert ent.status.value == "expired" and ent.expiry is None
    with shop.tx() as session:
        stored = session.get(Order, order.id)
        assert stored is not None and stored.status == "refunded"
        assert session.get(Grant, "reversal:payment:stripe:cs_1") is not None
