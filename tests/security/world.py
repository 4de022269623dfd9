"""A small portal world for the security tests: one app, fresh customers per case."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from flask import Flask
from flask.testing import FlaskClient

from portal.billing import configure
from portal.session_auth import CSRF_COOKIE, SESSION_COOKIE, issue
from tests.fixtures.stripe_emulator import API_KEY, WEBHOOK_SECRET
from vpanel_core.billing import orders
from vpanel_core.billing.config import BillingConfig
from vpanel_core.db import transaction
from vpanel_core.models import Order, Plan, User
from vpanel_core.ratelimit import Limit
from vpanel_core.runtime import Database
from vpanel_core.services import plans, users

#: sent as cookie and header by anonymous browsers, so CSRF passes and authz decides
ANON_CSRF = "anonymous-csrf-token-0123456789"
GENEROUS = Limit(100_000, 60)


@dataclass(frozen=True)
class Person:
    """A user as a browser holding a valid session cookie sees itself."""

    id: uuid.UUID
    email: str
    token: str
    short_code: str
    session: str
    csrf: str


def open_shop(app: Flask) -> Plan:
    """Limits out of the way (authz decides, not 429), Stripe webhooks configured, a plan."""
    state = app.extensions["vpanel"]
    limits = replace(
        state.config.limits,
        login=GENEROUS,
        register=GENEROUS,
        mail=GENEROUS,
        subscription=GENEROUS,
        subscription_miss=GENEROUS,
    )
    app.extensions["vpanel"] = replace(state, config=replace(state.config, limits=limits))
    configure(
        app,
        BillingConfig(
            stripe_secret_key=API_KEY,
            stripe_webhook_secret=WEBHOOK_SECRET,
            stripe_api_base="http://127.0.0.1:9",
        ),
    )
    with transaction(state.database.sessions) as session:
        return plans.create_plan(
            session,
            plans.NewPlan(
                name=f"Monthly {uuid.uuid4().hex[:6]}",
                price_minor=500,
                currency="USD",
                duration_days=30,
                traffic_bytes=100 << 30,
            ),
        )


def person(app: Flask, role: str = "customer") -> Person:
    """A user with 30 days and a subscription, logged in (no password: nothing to hash)."""
    db: Database = app.extensions["vpanel"].database
    name = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    with transaction(db.sessions) as session:
        user = users.create_user(
            session,
            users.NewUser(username=name, email=name, days=30, traffic_bytes=1 << 30, role=role),
        )
        user.email_verified = True
        sub = user.subscription
        assert sub is not None
        token, short = sub.token, sub.short_code
    jwt, claims = issue(app.extensions["vpanel"].config, user)
    return Person(user.id, name, token, short, jwt, claims.csrf)


def order_for(app: Flask, owner: Person, plan: Plan) -> uuid.UUID:
    db: Database = app.extensions["vpanel"].database
    with transaction(db.sessions) as session:
        user = session.get(User, owner.id)
        assert user is not None
        order = orders.create_order(
            session, user, session.merge(plan), provider="stripe", actor="test"
        )
        return order.id


def order_status(app: Flask, order_id: uuid.UUID) -> str:
    with transaction(app.extensions["vpanel"].database.sessions) as session:
        order = session.get(Order, order_id)
        assert order is not None
        return order.status


def browser(app: Flask, who: Person | None) -> tuple[FlaskClient, dict[str, str]]:
    """A test client with the person's session (or none) and the CSRF header to send."""
    client = app.test_client()
    if who is None:
        client.set_cookie(CSRF_COOKIE, ANON_CSRF)
        return client, {"X-CSRF-Token": ANON_CSRF}
    client.set_cookie(SESSION_COOKIE, who.session)
    return client, {"X-CSRF-Token": who.csrf}
