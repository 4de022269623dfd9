"""USDT-TRC20 against a local TronGrid: poller, TXID claims, manual confirmation."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from tests.billing.conftest import Shop
from tests.fixtures.tron_emulator import (
    API_KEY,
    FAKE_TOKEN,
    OTHER_ADDRESS,
    OUR_ADDRESS,
    TronGridEmulator,
)
from vpanel_core import settings
from vpanel_core.billing import orders
from vpanel_core.billing.config import TRON_ADDRESS_SETTING, USDT_TRC20_CONTRACT
from vpanel_core.billing.errors import TxidRejected
from vpanel_core.billing.fulfilment import Outcome
from vpanel_core.billing.manual import confirm_manual_payment
from vpanel_core.billing.tron import txid as txids
from vpanel_core.billing.tron.client import TronGrid
from vpanel_core.billing.tron.poller import poll_tron_once
from vpanel_core.models import ChainTransfer, Grant, Order, OrderEvent, Payment, User


@pytest.fixture
def client(trongrid: TronGridEmulator):
    grid = TronGrid(trongrid.url, api_key=API_KEY, contract=USDT_TRC20_CONTRACT, timeout=5)
    yield grid
    grid.close()


@pytest.fixture
def usdt_shop(shop: Shop) -> Shop:
    with shop.tx() as session:
        settings.put(session, TRON_ADDRESS_SETTING, OUR_ADDRESS)
    return shop


def usdt_order(shop: Shop) -> Order:
    with shop.tx() as session:
        user = session.get(User, shop.user.id)
        assert user is not None
        return orders.create_order(session, user, shop.plan, provider="usdt", actor="customer:1")


def status_of(shop: Shop, order: Order) -> tuple[str, str]:
    with shop.tx() as session:
        stored = orders.get_order(session, order.id)
        return stored.status, stored.flagged


def test_poller_pays_the_order_whose_unique_amount_arrived(
    usdt_shop: Shop, trongrid: TronGridEmulator, client: TronGrid
) -> None:
    first, second = usdt_order(usdt_shop), usdt_order(usdt_shop)
    assert first.pay_amount_micro is not None and second.pay_amount_micro is not None
    trongrid.send(second.pay_amount_micro)
    report = poll_tron_once(usdt_shop.db.sessions, client)
    assert report.outcomes == ["granted"]
    assert status_of(usdt_shop, second) == ("paid", "")
    assert status_of(usdt_shop, first) == ("pending", "")
    with usdt_shop.tx() as session:
        event = session.scalars(
            select(OrderEvent).where(
                OrderEvent.order_id == second.id, OrderEvent.to_status == "paid"
            )
        ).one()
        assert event.actor == "tron:poller"
        assert (
            session.scalar(
                select(func.count()).select_from(Grant).where(Grant.id.like("payment:usdt:%"))
            )
            == 1
        )
    assert set(trongrid.api_keys_seen) == {API_KEY}


def test_poller_follows_fingerprint_pages_and_ignores_foreign_tokens_and_unconfirmed(
    usdt_shop: Shop, trongrid: TronGridEmulator, client: TronGrid
) -> None:
    paid = [usdt_order(usdt_shop) for _ in range(5)]
    unconfirmed = usdt_order(usdt_shop)
    fake = usdt_order(usdt_shop)
    for order in paid:
        trongrid.send(order.pay_amount_micro or 0)
    pending_tx = trongrid.send(unconfirmed.pay_amount_micro or 0, confirmed=False)
    trongrid.send(fake.pay_amount_micro or 0, contract=FAKE_TOKEN)
    report = poll_tron_once(usdt_shop.db.sessions, client)
    assert report.outcomes == ["granted"] * 5  # 5 transfers over 3 pages of 2
    assert [status_of(usdt_shop, o)[0] for o in (*paid, unconfirmed, fake)] == ["paid"] * 5 + [
        "pending"
    ] * 2
    trongrid.confirm(pending_tx)
    # TronGrid lists newest first by block time: where the late one lands depends on timing.
    outcomes = poll_tron_once(usdt_shop.db.sessions, client).outcomes
    assert sorted(outcomes) == ["granted"] + ["seen before"] * 5
    assert status_of(usdt_shop, unconfirmed)[0] == "paid"


def test_unmatched_and_wrong_amount_transfers_are_kept_for_the_operator(
    usdt_shop: Shop, trongrid: TronGridEmulator, client: TronGrid
) -> None:
    order = usdt_order(usdt_shop)
    trongrid.send((order.pay_amount_micro or 0) - 1)
    assert poll_tron_once(usdt_shop.db.sessions, client).outcomes == [
        "no order with this amount: review"
    ]
    assert status_of(usdt_shop, order) == ("pending", "")
    with usdt_shop.tx() as session:
        kept = session.scalars(select(ChainTransfer)).one()
        assert kept.amount_micro == (order.pay_amount_micro or 0) - 1 and kept.order_id is None


def test_transfer_after_the_order_expired_is_granted_and_flagged(
    usdt_shop: Shop, trongrid: TronGridEmulator, client: TronGrid
) -> None:
    order = usdt_order(usdt_shop)
    with usdt_shop.tx() as session:
        orders.expire_overdue(session, now=order.expires_at)
    trongrid.send(order.pay_amount_micro or 0)
    assert poll_tron_once(usdt_shop.db.sessions, client).outcomes == ["late_granted"]
    status, flagged = status_of(usdt_shop, order)
    assert status == "paid" and "after" in flagged


def test_customer_txid_pays_order_once_and_cannot_be_reused(
    usdt_shop: Shop, trongrid: TronGridEmulator, client: TronGrid
) -> None:
    order, other = usdt_order(usdt_shop), usdt_order(usdt_shop)
    txid = trongrid.send(order.pay_amount_micro or 0)
    transfer = txids.fetch_transfer(client, txids.normalize_txid(txid.upper()), OUR_ADDRESS)
    with usdt_shop.tx() as session:
        assert txids.claim(session, order.id, transfer, "customer:1") is Outcome.GRANTED
    with usdt_shop.tx() as session:
        assert txids.claim(session, order.id, transfer, "customer:1") is Outcome.DUPLICATE
    with pytest.raises(TxidRejected, match="already been used"), usdt_shop.tx() as session:
        txids.claim(session, other.id, transfer, "customer:1")
    assert poll_tron_once(usdt_shop.db.sessions, client).outcomes == ["seen before"]
    with usdt_shop.tx() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 1
    assert status_of(usdt_shop, other) == ("pending", "")


def test_txid_to_another_address_unconfirmed_or_wrong_amount_is_rejected(
    usdt_shop: Shop, trongrid: TronGridEmulator, client: TronGrid
) -> None:
    order = usdt_order(usdt_shop)
    amount = order.pay_amount_micro or 0
    elsewhere = trongrid.send(amount, to=OTHER_ADDRESS)
    unconfirmed = trongrid.send(amount, confirmed=False)
    short = trongrid.send(amount - 1)
    early = trongrid.send(amount, block_ms=int((time.time() - 3600) * 1000))
    with pytest.raises(TxidRejected, match="not sent to our address"):
        txids.fetch_transfer(client, elsewhere, OUR_ADDRESS)
    with pytest.raises(TxidRejected, match="no confirmed"):
        txids.fetch_transfer(client, unconfirmed, OUR_ADDRESS)
    for txid, words in [(short, "asks for exactly"), (early, "before the order")]:
        transfer = txids.fetch_transfer(client, txid, OUR_ADDRESS)
        with pytest.raises(TxidRejected, match=words), usdt_shop.tx() as session:
            txids.claim(session, order.id, transfer, "customer:1")
    with pytest.raises(TxidRejected, match="64 hexadecimal"):
        txids.normalize_txid("abc")
    assert status_of(usdt_shop, order) == ("pending", "")


def test_operator_confirms_usdt_order_without_chain_access(usdt_shop: Shop) -> None:
    order = usdt_order(usdt_shop)
    txid = "ab" * 32
    with usdt_shop.tx() as session:
        assert confirm_manual_payment(session, order.id, "operator:bob", txid) is Outcome.GRANTED
    with usdt_shop.tx() as session:
        assert confirm_manual_payment(session, order.id, "operator:bob", txid) is Outcome.DUPLICATE
        trail = session.scalars(
            select(OrderEvent.actor).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
        ).all()
        assert trail == ["customer:1", "operator:bob"]
        assert session.get(Grant, f"payment:usdt:{txid}") is not None
