"""A customer's TXID: verified on chain before it may pay their order.

Checks: confirmed, our token contract, sent to our address, exactly the order's amount,
sent after the order was created, and not used before (payments are unique per
(provider, txid), so the same TXID can never pay twice — here or via the poller).
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from vpanel_core import settings
from vpanel_core.billing import fulfilment, money, orders
from vpanel_core.billing.config import TRON_ADDRESS_SETTING
from vpanel_core.billing.errors import TxidRejected
from vpanel_core.billing.fulfilment import Outcome
from vpanel_core.billing.tron import matcher
from vpanel_core.billing.tron.client import Transfer, TronGrid
from vpanel_core.models import Order, Payment

TXID_RE = re.compile(r"^[0-9a-fA-F]{64}$")


def normalize_txid(txid: str) -> str:
    txid = txid.strip().lower().removeprefix("0x")
    if not TXID_RE.match(txid):
        raise TxidRejected("a TXID is 64 hexadecimal characters")
    return txid


def fetch_transfer(client: TronGrid, txid: str, to: str) -> Transfer:
    """The confirmed transfer to our address in this transaction (network; no DB)."""
    transfers = client.confirmed_transfers(txid)
    if not transfers:
        raise TxidRejected("no confirmed USDT transfer with this TXID yet; try again shortly")
    ours = [t for t in transfers if t.to_address == to]
    if not ours:
        raise TxidRejected("this transfer was not sent to our address")
    return ours[0]


def claim(session: Session, order_id: uuid.UUID, transfer: Transfer, actor: str) -> Outcome:
    """Pay the order with a verified transfer, or say exactly why not."""
    order = orders.get_order(session, order_id)
    to = str(settings.get(session, TRON_ADDRESS_SETTING) or "")
    if transfer.to_address != to:
        raise TxidRejected("this transfer was not sent to our address")
    used = session.scalars(
        select(Payment).where(Payment.provider == "usdt", Payment.provider_ref == transfer.txid)
    ).first()
    if used is not None:
        if used.order_id == order.id:
            return Outcome.DUPLICATE
        raise TxidRejected("this TXID has already been used")
    if order.provider != "usdt" or order.pay_amount_micro is None:
        raise TxidRejected("this order is not paid in USDT")
    if transfer.amount_micro != order.pay_amount_micro:
        got = money.format_amount(transfer.amount_micro, "USDT")
        want = money.format_amount(order.pay_amount_micro, "USDT")
        raise TxidRejected(f"the transfer is {got}, this order asks for exactly {want}")
    if transfer.block_at + matcher.CLOCK_SLACK < order.created_at:
        raise TxidRejected("this transfer was sent before the order was created")
    return _apply(session, order, transfer, actor)


def _apply(session: Session, order: Order, transfer: Transfer, actor: str) -> Outcome:
    """Settle this order with the transfer (not whichever order the amount matches now)."""
    matcher.remember(session, transfer)
    payment = fulfilment.IncomingPayment(
        "usdt", transfer.txid, transfer.amount_micro, "USDT", actor, paid_at=transfer.block_at
    )
    outcome = fulfilment.settle(session, order.id, payment)
    matcher.record_outcome(session, transfer.txid, order.id, outcome.value)
    return outcome
