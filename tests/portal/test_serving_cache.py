"""The subscription hot path's per-process caches, as a customer would notice them.

Entitlements, settings and the fleet are cached for a few seconds per process
(`ServingCache`), but the link, the user's flags and the ledger markers are read on
every fetch: expiry, payments, disabling and regenerating take effect on the very next
request, even while the entitlement is cached.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.blueprints import subscription as endpoint
from tests.fixtures.portal import add_usage, body, expire_user, make_customer, make_node, set_user
from vpanel_core.db import transaction
from vpanel_core.models import UsageRecord, User
from vpanel_core.runtime import Database
from vpanel_core.services import ledger, subscriptions
from vpanel_core.timeutil import utcnow

CLIENT = {"User-Agent": "v2rayNG/1.10.16"}


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

    monkeypatch.setattr(endpoint, "utcnow", lambda: expiry - timedelta(microseconds=1))
    assert fetch(client, alice.token) == (200, "")
    monkeypatch.setattr(endpoint, "utcnow", lambda: expiry)
    assert fetch(client, alice.token) == (403, "USER_EXPIRED")


def test_payment_disable_and_regenerate_count_at_once_despite_the_cache(
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

    set_user(db, alice.id, enabled=False)
    assert fetch(client, alice.token) == (403, "USER_DISABLED")
    set_user(db, alice.id, enabled=True)
    assert fetch(client, alice.token) == (200, "")

    with transaction(db.sessions) as session:
        user = session.get(User, alice.id)
        assert user is not None
        fresh = subscriptions.regenerate(session, user).token
    assert fetch(client, alice.token) == (404, "SUBSCRIPTION_NOT_FOUND")
    assert fetch(client, fresh) == (200, "")


def test_new_usage_counts_at_once_and_userinfo_follows(client: FlaskClient, db: Database):
    make_node(db)
    alice = make_customer(db, traffic_bytes=1000)
    assert fetch(client, alice.token) == (200, "")

    add_usage(db, alice.id, up=400, down=700)

    assert fetch(client, alice.token) == (403, "TRAFFIC_EXCEEDED")


def test_late_usage_shows_within_the_ttl(
    client: FlaskClient, portal_app: Flask, db: Database, monkeypatch: pytest.MonkeyPatch
):
    """A record ending before the newest one seen is the documented lag: at most `ttl`."""
    make_node(db)
    alice = make_customer(db, traffic_bytes=1000)
    add_usage(db, alice.id, up=1, down=1, seq=1)
    assert fetch(client, alice.token) == (200, "")
    with transaction(db.sessions) as session:
        earlier = utcnow() - timedelta(hours=1)
        session.add(
            UsageRecord(
                node_id=uuid.uuid5(uuid.NAMESPACE_DNS, "node"),
                seq=2,
                user_id=alice.id,
                uplink=500,
                downlink=500,
                started_at=earlier - timedelta(minutes=5),
                ended_at=earlier,
            )
        )

    monkeypatch.setattr(portal_app.extensions["vpanel"].serving, "ttl", 0.0)  # TTL elapsed
    assert fetch(client, alice.token) == (403, "TRAFFIC_EXCEEDED")
