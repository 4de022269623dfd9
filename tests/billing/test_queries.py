"""What the desktop reads: order lists with filters, revenue per day, an order's trail."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from tests.billing.conftest import Shop
from vpanel_core.billing import fulfilment, orders, queries
from vpanel_core.billing.fulfilment import IncomingPayment
from vpanel_core.billing.queries import OrderFilter
from vpanel_core.models import User
from vpanel_core.timeutil import utcnow


def test_filters_revenue_and_audit_trail_reflect_paid_and_refunded_orders(shop: Shop) -> None:
    with shop.tx() as session:
        user = session.get(User, shop.user.id)
        assert user is not None
        made = [
            orders.create_order(session, user, shop.plan, provider=p, actor="customer:1")
            for p in ("stripe", "stripe", "usdt")
        ]
        for ref, order in zip(("cs_a", "cs_b"), made[:2], strict=True):
            fulfilment.settle(
                session, order.id, IncomingPayment("stripe", ref, 500, "USD", "stripe:webhook:e")
            )
        refunded = queries.payments_of(session, made[1].id)[0]
        fulfilment.refund(session, refunded, actor="operator:bob", full=True)
    with shop.tx() as session:
        assert len(queries.list_orders(session, OrderFilter(status="paid"))) == 1
        assert len(queries.list_orders(session, OrderFilter(provider="usdt"))) == 1
        assert len(queries.list_orders(session, OrderFilter(user_id=shop.user.id))) == 3
        now = utcnow()
        days = queries.revenue_per_day(session, now - timedelta(days=1), now, ZoneInfo("UTC"))
        assert [(d.currency, d.amount_minor, d.payments) for d in days] == [("USD", 500, 1)]
        trail = queries.audit_trail(session, made[1].id)
        assert [(e.to_status, e.actor) for e in trail] == [
            ("pending", "customer:1"),
            ("paid", "stripe:webhook:e"),
            ("refunded", "operator:bob"),
        ]
