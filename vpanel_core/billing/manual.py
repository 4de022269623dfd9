"""Operator confirmation: how a USDT order is paid when the portal has no chain access.

The operator checked the wallet and vouches for the amount. With a TXID the payment is
keyed like the poller's (`usdt`, txid), so if chain access is added later the same
transfer cannot pay a second time.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from vpanel_core.billing import fulfilment, orders
from vpanel_core.billing.fulfilment import IncomingPayment, Outcome
from vpanel_core.billing.tron.txid import normalize_txid


def confirm_manual_payment(
    session: Session, order_id: uuid.UUID | str, actor: str, txid: str = ""
) -> Outcome:
    """Mark an order paid on the operator's word (`actor` e.g. "operator:alice")."""
    order = orders.get_order(session, order_id)
    amount, currency = fulfilment.expected_amount(order)
    provider, ref = ("usdt", normalize_txid(txid)) if txid else ("manual", str(order.id))
    payment = IncomingPayment(provider, ref, amount, currency, actor)
    return fulfilment.settle(session, order.id, payment)
