"""Which order a transfer pays: the order that was given exactly this amount.

Every transfer is stored (`chain_transfers`) first, matched or not, so an odd amount or
a transfer for nobody is visible to the operator instead of being dropped.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from vpanel_core.billing import fulfilment
from vpanel_core.billing.fulfilment import IncomingPayment
from vpanel_core.billing.tron.client import Transfer
from vpanel_core.models import ChainTransfer, Order
from vpanel_core.timeutil import utcnow

CLOCK_SLACK = timedelta(minutes=2)


def remember(session: Session, transfer: Transfer) -> bool:
    """Store the transfer; False if it was already seen (then nothing else is done)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(ChainTransfer)
        .values(
            txid=transfer.txid,
            from_address=transfer.from_address[:64],
            to_address=transfer.to_address[:64],
            amount_micro=transfer.amount_micro,
            block_at=transfer.block_at,
            outcome="",
            seen_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["txid"])
        .returning(ChainTransfer.txid)
    )
    return session.execute(stmt).first() is not None


def order_for_amount(session: Session, transfer: Transfer) -> Order | None:
    """The pending order with this amount, else the latest one created before the transfer."""
    pending_first = case((Order.status == "pending", 0), else_=1)
    return session.scalars(
        select(Order)
        .where(
            Order.provider == "usdt",
            Order.pay_amount_micro == transfer.amount_micro,
            Order.created_at <= transfer.block_at + CLOCK_SLACK,
        )
        .order_by(pending_first, Order.created_at.desc())
        .limit(1)
    ).first()


def apply_transfer(session: Session, transfer: Transfer, actor: str) -> str:
    if not remember(session, transfer):
        return "seen before"
    order = order_for_amount(session, transfer)
    if order is None:
        outcome = "no order with this amount: review"
    else:
        payment = IncomingPayment(
            "usdt", transfer.txid, transfer.amount_micro, "USDT", actor, paid_at=transfer.block_at
        )
        outcome = fulfilment.settle(session, order.id, payment).value
    record_outcome(session, transfer.txid, order.id if order else None, outcome)
    return outcome


def record_outcome(session: Session, txid: str, order_id: uuid.UUID | None, outcome: str) -> None:
    session.execute(
        update(ChainTransfer)
        .where(ChainTransfer.txid == txid)
        .values(order_id=order_id, outcome=outcome)
        .execution_options(synchronize_session=False)
    )
