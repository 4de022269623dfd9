"""Unique USDT amounts: base price + 1…9999 micro-USDT, one per pending order.

The partial unique index on pending orders' amount is the guarantee; allocation is
serialized so two checkouts never race for the same amount (SQLite: the order row was
just written, so this transaction already holds the write lock; PostgreSQL: a
transaction-scoped advisory lock).
"""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from vpanel_core.billing import money
from vpanel_core.errors import Conflict
from vpanel_core.models import Order

MAX_OFFSET = 9_999
ADVISORY_KEY = 0x7573_6474  # "usdt"


def allocate_amount(session: Session, order: Order) -> int:
    base = money.usdt_base_micro(order.amount_minor, order.currency)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_KEY})
    taken = set(
        session.scalars(
            select(Order.pay_amount_micro).where(
                Order.status == "pending",
                Order.pay_amount_micro.between(base + 1, base + MAX_OFFSET),
            )
        )
    )
    offset = next((k for k in range(1, MAX_OFFSET + 1) if base + k not in taken), None)
    if offset is None:
        raise Conflict("too many unpaid USDT orders at this price; try again in a few minutes")
    order.pay_amount_micro = base + offset
    session.flush()
    return order.pay_amount_micro
