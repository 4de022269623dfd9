"""The subscription hot path's per-process caches, as a customer would notice them.

Entitlements, settings and the fleet are cached for a few seconds per process
(`ServingCache`); the full path reads the link, the user's flags and the ledger markers
on every fetch, and the lean path (portal/serving.py) re-validates what it answers from
memory about once a second (`settle` here: the housekeeper's round). Expiry counts on
the dot; payments, disabling and regenerating from the next round on.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from portal import serving
from portal.app import close_app, create_app
from portal.blueprints import subscription as endpoint
from tests.fixtures.portal import (
    add_usage,
    body,
    expire_user,
    make_config,
    make_customer,
    make_node,
    set_user,
)
from tests.fixtures.smtp import Mailbox
from tests.fixtures.usage import record_usage
from vpanel_core.db import transaction
from vpanel_core.models import Subscription, UsageTotal, User
from vpanel_core.runtime import Database
from vpanel_core.services import ledger, subscriptions
from vpanel_core.timeutil import utcnow

CLIENT = {"User-Agent": "v2rayNG/1.10.16"}


def settle(client: FlaskClient) -> None:
    client.application.extensions["vpanel"].lean.housekeeping()


def fetch(client: FlaskClient, token: str) -> tuple[int, str]:
    response = client.get(f"/api/subscription/{token}", headers=CLIENT)
    return response.status_code, "" if response.status_code == 200 else body(response)["code"]


def test_cached_entitlement_expires_exactly_at_expiry(
    client: FlaskClient, db: Database, monkeypatch: pytest.MonkeyPatch
):
    make_node(db)
    alice = make_customer(db, days=30)
    with transaction(db.sessions) as session:
        user = session.get(User, alice.id)
        assert user is not None
        expiry = ledger.entitlement(session, user).expiry
    assert expiry is not None
    assert fetch(client, alice.token) == (200, "")  # the entitlement is cached now

    for module in (endpoint, serving):  # the full path and the lean one
        monkeypatch.setattr(module, "utcnow", lambda: expiry - timedelta(microseconds=1))
    assert fetch(client, alice.token) == (200, "")
    for module in (endpoint, serving):
        monkeypatch.setattr(module, "utcnow", lambda: expiry)
    assert fetch(client, alice.token) == (403, "USER_EXPIRED")


def test_payment_disable_and_regenerate_count_from_the_next_round(
    client: FlaskClient, db: Database
):
    make_node(db)
    alice = make_customer(db)
    expire_user(db, alice.id)
    assert fetch(client, alice.token) == (403, "USER_EXPIRED")

    with transaction(db.sessions) as session:  # a payment, as any process would credit it
        user = session.get(User, alice.id)
        assert user is not None
        ledger.renew(session, user, days=30, traffic_bytes=1 << 30, source="payment")
    assert fetch(client, alice.token) == (200, "")
    assert fetch(client, alice.token) == (200, "")  # taken into the lean path's index
    assert fetch(client, alice.token) == (200, "")  # answered from memory

    set_user(db, alice.id, enabled=False)
    settle(client)
    assert fetch(client, alice.token) == (403, "USER_DISABLED")
    set_user(db, alice.id, enabled=True)
    assert fetch(client, alice.token) == (200, "")

    with transaction(db.sessions) as session:
        user = session.get(User, alice.id)
        assert user is not None
        fresh = subscriptions.regenerate(session, user).token
    settle(client)
    assert fetch(client, alice.token) == (404, "SUBSCRIPTION_NOT_FOUND")
    assert fetch(client, fresh) == (200, "")


def test_new_usage_counts_from_the_next_round(client: FlaskClient, db: Database):
    make_node(db)
    alice = make_customer(db, traffic_bytes=1000)
    assert fetch(client, alice.token) == (200, "")

    add_usage(db, alice.id, up=400, down=700)
    settle(client)

    assert fetch(client, alice.token) == (403, "TRAFFIC_EXCEEDED")


def test_late_usage_counts_from_the_next_round(client: FlaskClient, db: Database):
    """A record that ended before the newest one seen still changes the all-time bytes, the
    marker every cached entry is checked against."""
    make_node(db)
    alice = make_customer(db, traffic_bytes=1000)
    add_usage(db, alice.id, up=1, down=1)
    assert fetch(client, alice.token) == (200, "")
    assert fetch(client, alice.token) == (200, "")  # taken into the lean path's index
    with transaction(db.sessions) as session:
        record_usage(session, alice.id, 500, 500, utcnow() - timedelta(hours=1))
        last_at = session.scalar(select(UsageTotal.last_at).where(UsageTotal.user_id == alice.id))
    assert last_at is not None and last_at > utcnow() - timedelta(minutes=1)  # not moved back
    settle(client)
    assert fetch(client, alice.token) == (403, "TRAFFIC_EXCEEDED")


def test_repeated_fetches_are_answered_from_memory_exactly_as_the_full_path(
    client: FlaskClient, portal_app: Flask, db: Database, monkeypatch: pytest.MonkeyPatch
):
    make_node(db)
    alice = make_customer(db)
    url = f"/api/subscription/{alice.token}"
    full_path = endpoint.serve
    calls: list[str] = []
    monkeypatch.setattr(
        endpoint, "serve", lambda *a, **k: calls.append("full") or full_path(*a, **k)
    )

    def headers(response: TestResponse) -> list[tuple[str, str]]:
        return sorted((k, v) for k, v in response.headers.items() if k != "Date")

    client.get(url, headers=CLIENT)  # a link answered once is not taken in
    full = client.get(url, headers=CLIENT)
    lean = client.get(url, headers=CLIENT)
    conditional = {**CLIENT, "If-None-Match": full.headers["ETag"]}
    lean_304 = client.get(url, headers=conditional)
    portal_app.extensions["vpanel"].lean.index.drop_users({alice.id})
    client.get(url, headers=conditional)
    full_304 = client.get(url, headers=conditional)  # taken in without its 200 part
    again_304 = client.get(url, headers=conditional)
    full_200 = client.get(url, headers=CLIENT)

    assert calls == ["full"] * 5  # twice at first, twice after the drop, the 200 after
    assert lean.data == full.data == full_200.data
    assert headers(lean) == headers(full) == headers(full_200)
    assert lean.headers["Date"]
    assert lean_304.status_code == full_304.status_code == again_304.status_code == 304
    assert headers(lean_304) == headers(full_304) == headers(again_304)
    assert lean_304.data == b""
    settle(client)
    with transaction(db.sessions) as session:
        assert session.query(Subscription).filter_by(token=alice.token).one().access_count == 8


def test_fetches_answered_from_memory_are_summed_up_in_the_log_once_a_minute(
    client: FlaskClient, db: Database, caplog: pytest.LogCaptureFixture
):
    make_node(db)
    alice = make_customer(db)
    lean = client.application.extensions["vpanel"].lean
    with caplog.at_level(logging.INFO, "portal.access"):
        fetch(client, alice.token)
        fetch(client, alice.token)  # the full path answered both: one line each
        caplog.clear()
        for _ in range(5):
            assert fetch(client, alice.token) == (200, "")
        etag = client.get(f"/api/subscription/{alice.token}", headers=CLIENT).headers["ETag"]
        conditional = {**CLIENT, "If-None-Match": etag}
        for _ in range(3):
            response = client.get(f"/api/subscription/{alice.token}", headers=conditional)
            assert response.status_code == 304
        assert caplog.records == []  # no line per fetch answered from memory
        lean.summarize(time.monotonic() + serving.SUMMARY_SECONDS)
    [line] = [r.getMessage() for r in caplog.records]
    assert re.fullmatch(
        r"answered 9 subscription fetches from memory in 6\d s \(200: 6, 304: 3\)", line
    )


@pytest.mark.parametrize("public_url", ["", "https://portal.example.com"])
def test_a_link_is_answered_from_memory_for_every_host_only_with_a_public_url(
    database: Database, smtp_server: Mailbox, monkeypatch: pytest.MonkeyPatch, public_url: str
):
    """Behind a proxy every process sees one Host; reached by two names (a CDN's and a
    direct one), answers are shared only when their links cannot follow the Host."""
    app = create_app(make_config(str(database.engine.url), smtp_server, public_url=public_url))
    try:
        make_node(database)
        alice = make_customer(database)
        full_path = endpoint.serve
        calls: list[str] = []
        monkeypatch.setattr(
            endpoint, "serve", lambda *a, **k: calls.append("full") or full_path(*a, **k)
        )
        client, url = app.test_client(), f"/api/subscription/{alice.token}"
        for _ in range(2):  # taken in on the second answer
            client.get(url, headers=CLIENT, base_url="http://cdn.example.net")
        calls.clear()
        direct = client.get(url, headers=CLIENT, base_url="http://direct.example.org")

        assert direct.status_code == 200
        assert calls == ([] if public_url else ["full"])
        page = direct.headers.get("Profile-Web-Page-Url", "")
        assert page.startswith(public_url or "http://direct.example.org")
    finally:
        close_app(app)
