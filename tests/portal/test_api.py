"""The customer JSON API, the admin API and the OpenAPI document that describes them."""

from __future__ import annotations

import logging
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.fixtures.portal import PASSWORD, body, csrf_of, login, make_customer, make_node
from vpanel_core.runtime import Database


def bearer(client: FlaskClient, email: str) -> dict[str, str]:
    response = client.post("/api/auth/token", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {body(response)['token']}"}


def test_user_reads_link_and_info_with_a_bearer_token(client: FlaskClient, db: Database):
    alice = make_customer(db)
    headers = bearer(client, alice.email)

    link = body(client.get("/api/subscription/link", headers=headers))
    info = body(client.get("/api/subscription/info", headers=headers))

    assert link["subscription"].endswith(f"/api/subscription/{alice.token}")
    assert link["short"].endswith(f"/s/{alice.short_code}")
    assert {i["client"] for i in link["imports"]} >= {
        "clash",
        "sing-box",
        "shadowrocket",
        "hiddify",
    }
    assert info["status"] == "active" and info["days_left"] in (29, 30)
    assert info["access"]["count"] == 0


def test_regenerate_by_api_invalidates_the_old_link(client: FlaskClient, db: Database):
    make_node(db)
    alice = make_customer(db)
    fresh = body(client.post("/api/subscription/regenerate", headers=bearer(client, alice.email)))

    assert client.get(f"/api/subscription/{alice.token}").status_code == 404
    assert client.get(fresh["subscription"].split("localhost", 1)[1]).status_code == 200


def test_cookie_session_api_posts_need_the_csrf_header(client: FlaskClient, db: Database):
    make_customer(db)
    login(client, "alice@example.com")
    without = client.post("/api/subscription/regenerate")
    token = csrf_of(client.get("/dashboard").get_data(as_text=True))
    with_header = client.post("/api/subscription/regenerate", headers={"X-CSRF-Token": token})
    assert without.status_code == 403 and body(without)["code"] == "CSRF_FAILED"
    assert with_header.status_code == 200


def test_api_without_login_is_401_json_and_bad_token_json_is_400(client: FlaskClient):
    assert body(client.get("/api/subscription/info"))["code"] == "LOGIN_REQUIRED"
    forged = client.get("/api/subscription/info", headers={"Authorization": "Bearer abc.def.ghi"})
    assert forged.status_code == 401
    assert body(client.post("/api/auth/token", data="nope"))["code"] == "VALIDATION_ERROR"


def test_admin_lists_filters_and_pages_subscriptions(client: FlaskClient, db: Database):
    make_customer(db, "admin@example.com", role="admin")
    for i in range(3):
        make_customer(db, f"user{i}@example.com")
    make_customer(db, "off@example.com", enabled=False)
    headers = bearer(client, "admin@example.com")

    page1 = body(client.get("/api/admin/subscriptions?per_page=2&page=1", headers=headers))
    page3 = body(client.get("/api/admin/subscriptions?per_page=2&page=3", headers=headers))
    disabled = body(client.get("/api/admin/subscriptions?status=disabled", headers=headers))
    search = body(client.get("/api/admin/subscriptions?q=user1", headers=headers))
    bad = client.get("/api/admin/subscriptions?per_page=5000", headers=headers)

    assert page1["total"] == 5 and len(page1["items"]) == 2 and len(page3["items"]) == 1
    assert [i["email"] for i in disabled["items"]] == ["off@example.com"]
    assert [i["email"] for i in search["items"]] == ["user1@example.com"]
    assert bad.status_code == 400 and body(bad)["code"] == "VALIDATION_ERROR"


def test_admin_revokes_a_link_and_resets_its_stats(client: FlaskClient, db: Database):
    make_node(db)
    make_customer(db, "admin@example.com", role="admin")
    alice = make_customer(db)
    client.get(f"/api/subscription/{alice.token}")
    headers = bearer(client, "admin@example.com")

    reset = client.post(f"/api/admin/subscriptions/{alice.id}/reset-stats", headers=headers)
    revoked = client.delete(f"/api/admin/subscriptions/{alice.id}", headers=headers)
    again = client.delete(f"/api/admin/subscriptions/{alice.id}", headers=headers)

    assert reset.status_code == 200 and body(reset)["access"]["count"] == 0
    assert revoked.status_code == 200
    assert client.get(f"/api/subscription/{alice.token}").status_code == 404
    assert again.status_code == 404 and body(again)["code"] == "NOT_FOUND"
    assert client.delete("/api/admin/subscriptions/not-a-uuid", headers=headers).status_code == 404


def test_customers_cannot_use_the_admin_api(client: FlaskClient, db: Database):
    alice = make_customer(db)
    response = client.get("/api/admin/subscriptions", headers=bearer(client, alice.email))
    assert response.status_code == 403 and body(response)["code"] == "FORBIDDEN"


def test_openapi_describes_every_registered_api_route(portal_app: Flask, client: FlaskClient):
    document = body(client.get("/api/openapi.json"))
    assert document["openapi"].startswith("3.")
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    for rule in portal_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, f"{method} {path} is undocumented"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_logs_never_carry_full_tokens(client: FlaskClient, db: Database, caplog):
    alice = make_customer(db)
    with caplog.at_level(logging.INFO):
        client.get(f"/api/subscription/{alice.token}")
        client.get(f"/s/{alice.short_code}")
        client.get("/verify/" + "s" * 43)
    text = caplog.text
    assert "/api/subscription/" + alice.token[:4] in text
    assert alice.token not in text and alice.short_code not in text and "s" * 43 not in text
