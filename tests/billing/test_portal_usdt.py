"""The customer's USDT journey through the portal: plan page → order page → TXID → receipt."""

from __future__ import annotations

import re

import requests

from tests.billing.conftest import LivePortal, Shop
from tests.fixtures.tron_emulator import OUR_ADDRESS, TronGridEmulator
from vpanel_core import settings
from vpanel_core.billing.config import TRON_ADDRESS_SETTING, BillingConfig
from vpanel_core.services import users


def test_usdt_checkout_shows_exact_amount_and_txid_turns_it_into_a_receipt(
    shop: Shop, live_portal: LivePortal, trongrid: TronGridEmulator
) -> None:
    from portal.billing import configure

    with shop.tx() as session:
        settings.put(session, TRON_ADDRESS_SETTING, OUR_ADDRESS)
    configure(live_portal.app, BillingConfig(trongrid_url=trongrid.url, tron_poll_seconds=3600))
    http, url = live_portal.http, live_portal.url
    plans_page = http.get(f"{url}/payment", timeout=30).text
    assert 'action="/checkout"' in plans_page
    reply = http.post(
        f"{url}/checkout",
        data={"plan_id": str(shop.plan.id), "method": "usdt", "csrf_token": live_portal.csrf},
        timeout=30,
    )
    assert reply.status_code == 200 and OUR_ADDRESS in reply.text
    amount = re.search(r"exactly ([0-9.]+) USDT", reply.text)
    assert amount is not None and amount.group(1) == "5.000001"
    txid = trongrid.send(5_000_001)
    order_url = reply.url
    wrong = http.post(
        f"{order_url}/txid", data={"txid": "00" * 32, "csrf_token": live_portal.csrf}, timeout=30
    )
    assert "no confirmed USDT transfer" in wrong.text and 'data-status="pending"' in wrong.text
    paid = http.post(
        f"{order_url}/txid", data={"txid": txid, "csrf_token": live_portal.csrf}, timeout=30
    )
    assert "Receipt" in paid.text and txid in paid.text and 'data-status="paid"' in paid.text


def test_another_customer_cannot_see_my_order(shop: Shop, live_portal: LivePortal) -> None:
    from portal.session_auth import SESSION_COOKIE, issue

    with shop.tx() as session:
        settings.put(session, TRON_ADDRESS_SETTING, OUR_ADDRESS)
    reply = live_portal.http.post(
        f"{live_portal.url}/checkout",
        data={"plan_id": str(shop.plan.id), "method": "usdt", "csrf_token": live_portal.csrf},
        timeout=30,
    )
    assert "exactly" in reply.text
    with shop.tx() as session:
        bob = users.create_user(session, users.NewUser(username="bob"))
    token, _claims = issue(live_portal.app.extensions["vpanel"].config, bob)
    stranger = requests.get(reply.url, cookies={SESSION_COOKIE: token}, timeout=30)
    assert stranger.status_code == 404 and "exactly" not in stranger.text
    anonymous = requests.get(reply.url, timeout=30, allow_redirects=False)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
