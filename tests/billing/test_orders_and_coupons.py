"""Orders with coupons, expiry and unique USDT amounts, including under concurrency."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.billing.conftest import Shop, run_concurrently
from vpanel_core.billing import coupons, orders
from vpanel_core.billing.coupons import NewCoupon
from vpanel_core.billing.errors import CouponInvalid, OrderNotPending
from vpanel_core.models import Coupon, Order, OrderEvent, User
from vpanel_core.timeutil import utcnow


def buy(shop: Shop, session, provider: str = "stripe", coupon: str = "") -> Order:
    user = session.get(User, shop.user.id)
    return orders.create_order(
        session, user, shop.plan, provider=provider, actor="customer:1", coupon_code=coupon
    )


def test_percent_and_fixed_coupons_reduce_the_price(shop: Shop) -> None:
    with shop.tx() as session:
        coupons.create_coupon(session, NewCoupon("half", "percent", 50))
        coupons.create_coupon(session, NewCoupon("ONEOFF", "fixed", 120, currency="usd"))
        half, fixed = buy(shop, session, coupon=" Half "), buy(shop, session, coupon="oneoff")
    assert (half.amount_minor, half.discount_minor, half.coupon_code) == (250, 250, "HALF")
    assert (fixed.amount_minor, fixed.discount_minor) == (380, 120)


def test_coupon_outside_its_window_or_currency_is_refused(shop: Shop) -> None:
    now = utcnow()
    with shop.tx() as session:
        coupons.create_coupon(
            session, NewCoupon("LATER", "percent", 10, valid_from=now + timedelta(days=1))
        )
        coupons.create_coupon(session, NewCoupon("GONE", "percent", 10, valid_until=now))
        coupons.create_coupon(session, NewCoupon("EURO", "fixed", 100, currency="EUR"))
    for code, words in [
        ("LATER", "not valid yet"),
        ("GONE", "expired"),
        ("EURO", "in EUR"),
        ("NOPE", "no coupon"),
    ]:
        with pytest.raises(CouponInvalid, match=words), shop.tx() as session:
            buy(shop, session, coupon=code)
    with shop.tx() as session:
        assert session.scalars(select(Order)).all() == []


def test_coupon_cannot_be_over_used_by_concurrent_checkouts(shop: Shop) -> None:
    with shop.tx() as session:
        coupons.create_coupon(session, NewCoupon("THREE", "percent", 10, max_uses=3))
    results = run_concurrently(shop.db, 10, lambda s: buy(shop, s, coupon="THREE"))
    assert sum(isinstance(r, Order) for r in results) == 3
    assert all(isinstance(r, (Order, CouponInvalid)) for r in results), results
    with shop.tx() as session:
        assert session.get(Coupon, "THREE").used == 3
        assert len(session.scalars(select(Order)).all()) == 3


def test_expiry_sweep_expires_overdue_orders_and_returns_coupon_uses(shop: Shop) -> None:
    with shop.tx() as session:
        coupons.create_coupon(session, NewCoupon("ONCE", "percent", 10, max_uses=1))
        order = buy(shop, session, coupon="ONCE")
        fresh = buy(shop, session)
    with shop.tx() as session:
        assert orders.expire_overdue(session, now=order.expires_at - timedelta(seconds=1)) == 0
        assert orders.expire_overdue(session, now=fresh.expires_at) == 2
    with shop.tx() as session:
        assert session.get(Order, order.id).status == "expired"
        assert session.get(Coupon, "ONCE").used == 0
        event = session.scalars(
            select(OrderEvent).where(
                OrderEvent.order_id == fresh.id, OrderEvent.to_status == "expired"
            )
        ).one()
        assert event.actor == "system:expiry" and event.from_status == "pending"
    with shop.tx() as session:
        buy(shop, session, coupon="ONCE")


def test_customer_cancels_pending_order_once(shop: Shop) -> None:
    with shop.tx() as session:
        order = buy(shop, session)
        orders.cancel_order(session, order, actor="customer:1")
    with pytest.raises(OrderNotPending), shop.tx() as session:
        orders.cancel_order(session, order, actor="customer:1")


def test_hidden_plan_cannot_be_bought(shop: Shop) -> None:
    with shop.tx() as session:
        shop.plan = session.merge(shop.plan)
        shop.plan.visible = False
    with pytest.raises(Exception, match="on sale"), shop.tx() as session:
        buy(shop, session)


def test_pending_usdt_orders_get_distinct_amounts_even_concurrently(shop: Shop) -> None:
    results = run_concurrently(
        shop.db, 10, lambda s: buy(shop, s, provider="usdt").pay_amount_micro
    )
    assert sorted(results) == [5_000_000 + k for k in range(1, 11)]


def test_usdt_amount_is_reused_only_after_its_order_left_pending(shop: Shop) -> None:
    with shop.tx() as session:
        first = buy(shop, session, provider="usdt")
        second = buy(shop, session, provider="usdt")
        orders.cancel_order(session, first, actor="customer:1")
        third = buy(shop, session, provider="usdt")
    assert first.pay_amount_micro == third.pay_amount_micro == 5_000_001
    assert second.pay_amount_micro == 5_000_002
