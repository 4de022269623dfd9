"""Who may call what: every route × {anonymous, owner, other customer, admin}.

The table names the expected status for each role. Path arguments always point at the
owner's data (her user id, order, token), so the "other" column is the IDOR check: a
second customer must never read or change the owner's things. A new route fails
`test_every_route_is_in_the_table` until someone decides who may call it.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from flask import Flask

from portal.app import close_app, create_app
from portal.session_auth import SESSION_COOKIE
from tests.fixtures.portal import make_config
from tests.security.world import Person, browser, open_shop, order_for, order_status, person
from vpanel_core.models import Plan

LOGIN = "login"  # 302 to the login page
ROLES = ("anonymous", "owner", "other", "admin")
UNKNOWN = "u" * 43  # well-formed, never issued


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    expect: tuple[int | str, int | str, int | str, int | str]  # anonymous, owner, other, admin
    form: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def same(status: int | str) -> tuple[int | str, int | str, int | str, int | str]:
    return (status, status, status, status)


def logged_in(status: int | str) -> tuple[int | str, int | str, int | str, int | str]:
    return (LOGIN, status, status, status)


def owner_only(status: int | str) -> tuple[int | str, int | str, int | str, int | str]:
    """Only the owner; others get the same 404 as for an order that does not exist."""
    return (LOGIN, status, 404, 404)


ADMIN_ONLY = (401, 403, 403, 200)

TABLE: dict[str, Call] = {
    "index": Call("GET", "/", same(302)),
    "healthz": Call("GET", "/healthz", same(200)),
    "static": Call("GET", "/static/portal.css", same(200)),
    "set_language": Call("GET", "/lang/zh?next=/login", same(302)),
    "billing.plans": Call("GET", "/payment", same(200)),
    "api.openapi": Call("GET", "/api/openapi.json", same(200)),
    # accounts
    "auth.register_form": Call("GET", "/register", same(200)),
    "auth.register": Call("POST", "/register", same(400), form={"email": "x@example.com"}),
    "auth.verify": Call("GET", f"/verify/{UNKNOWN}", same(404)),
    "auth.resend": Call("POST", "/verify/resend", same(200), form={"email": "x@example.com"}),
    "auth.login_form": Call("GET", "/login", (200, 302, 302, 302)),
    "auth.login": Call(
        "POST", "/login", same(401), form={"email": "{email}", "password": "wrong password"}
    ),
    "auth.logout": Call("POST", "/logout", same(302)),
    "auth.forgot_form": Call("GET", "/forgot", same(200)),
    "auth.forgot": Call("POST", "/forgot", same(200), form={"email": "{email}"}),
    "auth.reset_form": Call("GET", f"/reset/{UNKNOWN}", same(404)),
    "auth.reset": Call("POST", f"/reset/{UNKNOWN}", same(404), form={"password": "x" * 12}),
    "api.issue_token": Call(
        "POST", "/api/auth/token", same(401), json={"email": "{email}", "password": "wrong pass"}
    ),
    # the customer's own pages and API: always her own data, whoever's id is in play
    "dashboard.show": Call("GET", "/dashboard", logged_in(200)),
    "dashboard.regenerate": Call(
        "POST", "/dashboard/regenerate", logged_in(302), form={"confirm": "yes"}
    ),
    "account.profile": Call("GET", "/profile", logged_in(200)),
    "account.alias": Call("POST", "/profile/alias", logged_in(302), form={"alias": "Al"}),
    "account.password": Call(
        "POST", "/profile/password", logged_in(401), form={"current": "nope", "new": "y" * 12}
    ),
    "account.email": Call(
        "POST",
        "/profile/email",
        logged_in(401),
        form={"password": "nope", "email": "new@example.com"},
    ),
    "account.confirm_email": Call("GET", f"/profile/email/{UNKNOWN}", same(404)),
    "api.info": Call("GET", "/api/subscription/info", (401, 200, 200, 200)),
    "api.link": Call("GET", "/api/subscription/link", (401, 200, 200, 200)),
    "api.regenerate": Call("POST", "/api/subscription/regenerate", (401, 200, 200, 200)),
    # orders and receipts: the owner's order id in the path
    "checkout.start": Call(
        "POST", "/checkout", logged_in(303), form={"plan_id": "{plan_id}", "method": "usdt"}
    ),
    "checkout.history": Call("GET", "/orders", logged_in(200)),
    "checkout.order_page": Call("GET", "/orders/{order_id}", owner_only(200)),
    "checkout.cancel": Call("POST", "/orders/{order_id}/cancel", owner_only(303)),
    "checkout.submit_txid": Call(
        "POST", "/orders/{order_id}/txid", owner_only(503), form={"txid": "ab" * 32}
    ),
    # public subscription links: the token is the credential, whoever holds it
    "subscription.by_token": Call("GET", "/api/subscription/{token}", same(200)),
    "subscription.by_short_code": Call("GET", "/s/{code}", same(200)),
    "subscription.clash_yaml": Call("GET", "/sub/{token}.yaml", same(200)),
    "subscription.sing_box_json": Call("GET", "/sub/{token}.json", same(200)),
    "subscription.junk_path": Call("GET", "/sub/{token}", same(404)),
    # admin API over the owner's subscription
    "admin_api.list_subscriptions": Call("GET", "/api/admin/subscriptions", ADMIN_ONLY),
    "admin_api.revoke": Call("DELETE", "/api/admin/subscriptions/{user_id}", ADMIN_ONLY),
    "admin_api.reset_stats": Call(
        "POST", "/api/admin/subscriptions/{user_id}/reset-stats", ADMIN_ONLY
    ),
    "sync_api.pairing_code": Call("POST", "/api/sync/pairing-code", ADMIN_ONLY),
    # machine endpoints: their own signatures decide, session cookies count for nothing
    "sync_api.pair": Call("POST", "/api/sync/pair", same(400), form={"x": "y"}),
    "sync_api.publish": Call("POST", "/api/sync/publish", same(400), form={"x": "y"}),
    "sync_api.events": Call("GET", "/api/sync/events", same(400)),
    "sync_api.node_entitlements": Call("GET", "/api/node/entitlements", same(401)),
    "billing_webhooks.stripe_webhook": Call(
        "POST", "/webhooks/stripe", same(400), json={"id": "evt_1", "type": "charge.refunded"}
    ),
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    path: Path = tmp_path_factory.mktemp("authz") / "authz.db"
    app = create_app(make_config(f"sqlite:///{path}"))
    app.testing = True
    yield app
    close_app(app)
    app.extensions["vpanel"].database.engine.dispose()


@pytest.fixture(scope="module")
def plan(app: Flask) -> Plan:
    return open_shop(app)


def test_every_route_is_in_the_table(app: Flask):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints == set(TABLE), (
        f"missing: {sorted(endpoints - set(TABLE))}, stale: {sorted(set(TABLE) - endpoints)}"
    )
    for endpoint, call in TABLE.items():
        rules = [r for r in app.url_map.iter_rules() if r.endpoint == endpoint]
        assert any(call.method in (r.methods or ()) for r in rules), endpoint


@pytest.mark.parametrize("endpoint", sorted(TABLE))
def test_each_role_gets_the_status_in_the_table(app: Flask, plan: Plan, endpoint: str):
    call = TABLE[endpoint]
    got: list[int | str] = []
    for role in ROLES:
        # Fresh people per role: one role's writes (logout, revoke) never decide another's.
        owner = person(app)
        values = {
            "user_id": str(owner.id),
            "order_id": str(order_for(app, owner, plan)),
            "token": owner.token,
            "code": owner.short_code,
            "email": owner.email,
            "plan_id": str(plan.id),
        }
        actor = {
            "anonymous": None,
            "owner": owner,
            "other": person(app),
            "admin": person(app, role="admin"),
        }[role]
        client, headers = browser(app, actor)
        response = client.open(
            fill(call.path, values),
            method=call.method,
            data={k: fill(v, values) for k, v in call.form.items()} or None,
            json={k: fill(v, values) for k, v in call.json.items()} if call.json else None,
            headers={**headers, **call.headers},
        )
        assert response.status_code != 500, f"{endpoint} as {role}: {response.data[:300]!r}"
        location = response.headers.get("Location", "")
        to_login = response.status_code == 302 and "/login?" in location
        got.append(LOGIN if to_login else response.status_code)
    assert tuple(got) == call.expect, f"{endpoint}: got {got}, table says {list(call.expect)}"


def fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def test_another_customer_cannot_see_or_touch_an_order(app: Flask, plan: Plan):
    alice, bob = person(app), person(app)
    order_id = order_for(app, alice, plan)
    client, headers = browser(app, bob)

    listing = client.get("/orders").get_data(as_text=True)
    page = client.get(f"/orders/{order_id}")
    cancel = client.post(f"/orders/{order_id}/cancel", headers=headers)

    assert str(order_id) not in listing
    assert page.status_code == 404
    assert cancel.status_code == 404
    assert order_status(app, order_id) == "pending"
    own, _ = browser(app, alice)
    assert str(order_id) in own.get("/orders").get_data(as_text=True)


def test_subscription_api_only_ever_shows_and_changes_the_callers_own_link(app: Flask):
    alice, bob = person(app), person(app)
    bob_client, bob_headers = browser(app, bob)

    link = bob_client.get("/api/subscription/link").get_json()
    fresh = bob_client.post("/api/subscription/regenerate", headers=bob_headers).get_json()
    page = bob_client.get("/dashboard").get_data(as_text=True)

    assert alice.token not in str(link) and alice.token not in str(fresh)
    assert alice.token not in page and alice.short_code not in page
    anonymous, _ = browser(app, None)
    assert anonymous.get(f"/api/subscription/{alice.token}").status_code == 200  # still valid
    assert anonymous.get(f"/api/subscription/{bob.token}").status_code == 404  # regenerated


def test_customers_cannot_use_the_admin_api_on_anyone(app: Flask):
    alice, bob = person(app), person(app)
    client, headers = browser(app, bob)
    anonymous, _ = browser(app, None)
    anonymous.get(f"/api/subscription/{alice.token}")

    listing = client.get("/api/admin/subscriptions")
    revoke = client.delete(f"/api/admin/subscriptions/{alice.id}", headers=headers)
    reset = client.post(f"/api/admin/subscriptions/{alice.id}/reset-stats", headers=headers)

    assert [listing.status_code, revoke.status_code, reset.status_code] == [403, 403, 403]
    assert alice.email not in listing.get_data(as_text=True)
    owner, _ = browser(app, alice)
    info = owner.get("/api/subscription/info").get_json()
    assert info["access"]["count"] == 1  # neither revoked nor reset


def forge(kind: str, stolen: str, victim: Person) -> str:
    """A session token for `victim` made from `stolen` (another user's) without our key."""
    claims = {**jwt.decode(stolen, options={"verify_signature": False}), "sub": str(victim.id)}
    if kind == "other_key":
        return jwt.encode(claims, "another-secret-" + "k" * 32, algorithm="HS256")
    if kind == "alg_none":
        return jwt.encode(claims, None, algorithm="none")
    if kind == "swapped_sub":
        header, _payload, signature = stolen.split(".")
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return f"{header}.{payload}.{signature}"
    return secrets.token_urlsafe(200)


@pytest.mark.parametrize("kind", ["other_key", "alg_none", "swapped_sub", "garbage"])
def test_forged_session_tokens_count_as_anonymous(app: Flask, kind: str):
    alice, bob = person(app), person(app)
    forged = forge(kind, bob.session, alice)

    by_header = app.test_client().get(
        "/api/subscription/info", headers={"Authorization": f"Bearer {forged}"}
    )
    by_cookie = app.test_client()
    by_cookie.set_cookie(SESSION_COOKIE, forged)

    assert by_header.status_code == 401
    assert by_header.get_json()["code"] == "LOGIN_REQUIRED"
    assert by_cookie.get("/api/subscription/info").status_code == 401
