"""The links proxy clients fetch: bodies, headers, caching, errors — on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import re

import yaml
from flask.testing import FlaskClient

from tests.fixtures.portal import (
    add_usage,
    body,
    expire_user,
    make_customer,
    make_node,
    put_setting,
    set_user,
    with_limits,
)
from vpanel_core.db import transaction
from vpanel_core.models import Subscription
from vpanel_core.ratelimit import Limit
from vpanel_core.runtime import Database

GB = 1 << 30
CLIENT = {"User-Agent": "v2rayNG/1.10.16"}


def settle(client: FlaskClient) -> None:
    """What the portal's housekeeper does about once a second: re-validate the links it
    answers from memory, share rate-limit counts, write spooled access stats."""
    client.application.extensions["vpanel"].lean.housekeeping()


def stats(client: FlaskClient, db: Database, token: str) -> Subscription:
    settle(client)
    with transaction(db.sessions) as session:
        sub = session.query(Subscription).filter_by(token=token).one()
        session.expunge(sub)
        return sub


def test_active_user_gets_share_links_with_client_headers(client: FlaskClient, db: Database):
    make_node(db)
    alice = make_customer(db, days=30, traffic_bytes=100 * GB)
    add_usage(db, alice.id, up=1000, down=5000)
    put_setting(db, "support_url", "https://t.me/support")
    put_setting(db, "announce", "Maintenance Sunday 02:00 UTC")

    response = client.get(f"/api/subscription/{alice.token}", headers=CLIENT)

    assert response.status_code == 200
    lines = base64.b64decode(response.data).decode().splitlines()
    assert any(line.startswith("vless://") for line in lines)
    assert any(line.startswith("trojan://") for line in lines)
    info = dict(
        part.strip().split("=") for part in response.headers["Subscription-Userinfo"].split(";")
    )
    assert info["upload"] == "1000" and info["download"] == "5000"
    assert info["total"] == str(100 * GB) and int(info["expire"]) > 0
    assert response.headers["Profile-Update-Interval"] == "12"
    assert re.fullmatch(
        r'attachment; filename="[^"]+\.txt"', response.headers["Content-Disposition"]
    )
    assert response.headers["Profile-Title"] == "vpanel"
    assert response.headers["Profile-Web-Page-Url"].endswith("/dashboard")
    assert response.headers["Support-Url"] == "https://t.me/support"
    assert response.headers["Announce"] == "Maintenance Sunday 02:00 UTC"
    assert response.headers["ETag"]


def test_non_ascii_title_and_announce_use_base64_form(client: FlaskClient, db: Database):
    make_node(db)
    alice = make_customer(db)
    put_setting(db, "site_name", "极速加速")
    put_setting(db, "announce", "周日维护")

    response = client.get(f"/api/subscription/{alice.token}", headers=CLIENT)

    title = response.headers["Profile-Title"]
    assert title.startswith("base64:")
    assert base64.b64decode(title.removeprefix("base64:")).decode() == "极速加速"
    assert (
        base64.b64decode(response.headers["Announce"].removeprefix("base64:")).decode()
        == "周日维护"
    )
    disposition = response.headers["Content-Disposition"]
    assert 'filename="' in disposition and "filename*=UTF-8''" in disposition


def test_clash_yaml_and_sing_box_json_paths_force_their_format(client: FlaskClient, db: Database):
    make_node(db)
    alice = make_customer(db)

    clash = client.get(f"/sub/{alice.token}.yaml", headers=CLIENT)
    sing = client.get(f"/sub/{alice.token}.json", headers=CLIENT)

    assert clash.status_code == 200 and clash.mimetype == "text/yaml"
    names = {p["type"] for p in yaml.safe_load(clash.data)["proxies"]}
    assert {"vless", "trojan", "hysteria2"} <= names
    assert sing.status_code == 200
    outbound_types = {o["type"] for o in json.loads(sing.data)["outbounds"]}
    assert {"vless", "trojan", "hysteria2"} <= outbound_types


def test_format_follows_user_agent_unless_given_explicitly(client: FlaskClient, db: Database):
    make_node(db)
    alice = make_customer(db)

    by_ua = client.get(
        f"/api/subscription/{alice.token}", headers={"User-Agent": "clash-verge/v2.0"}
    )
    explicit = client.get(
        f"/api/subscription/{alice.token}?format=sing_box", headers={"User-Agent": "clash-verge/v2"}
    )

    assert "proxies" in yaml.safe_load(by_ua.data)
    assert "outbounds" in json.loads(explicit.data)


def test_protocols_filter_keeps_only_named_protocols(client: FlaskClient, db: Database):
    make_node(db)
    alice = make_customer(db)

    response = client.get(f"/api/subscription/{alice.token}?protocols=trojan", headers=CLIENT)

    lines = base64.b64decode(response.data).decode().splitlines()
    assert lines and all(line.startswith("trojan://") for line in lines)


def test_unknown_format_is_400_and_records_nothing(client: FlaskClient, db: Database):
    alice = make_customer(db)

    response = client.get(f"/api/subscription/{alice.token}?format=nope", headers=CLIENT)
    bad_protocol = client.get(f"/api/subscription/{alice.token}?protocols=ftp", headers=CLIENT)

    assert response.status_code == 400
    assert body(response)["code"] == "INVALID_FORMAT"
    assert set(body(response)) == {"code", "message", "details"}
    assert bad_protocol.status_code == 400 and body(bad_protocol)["code"] == "VALIDATION_ERROR"
    assert stats(client, db, alice.token).access_count == 0


def test_unchanged_content_answers_304_to_etag_and_date(client: FlaskClient, db: Database):
    make_node(db)
    alice = make_customer(db)
    first = client.get(f"/api/subscription/{alice.token}", headers=CLIENT)

    by_etag = client.get(
        f"/api/subscription/{alice.token}",
        headers={**CLIENT, "If-None-Match": first.headers["ETag"]},
    )
    by_date = client.get(
        f"/api/subscription/{alice.token}",
        headers={**CLIENT, "If-Modified-Since": first.headers["Last-Modified"]},
    )

    assert by_etag.status_code == 304 and by_etag.data == b""
    assert by_date.status_code == 304
    add_usage(db, alice.id, up=10, down=10)
    settle(client)
    changed = client.get(
        f"/api/subscription/{alice.token}",
        headers={**CLIENT, "If-None-Match": first.headers["ETag"]},
    )
    assert changed.status_code == 200  # usage moved: headers and the date changed


def test_browser_gets_a_page_with_qr_and_import_buttons(client: FlaskClient, db: Database):
    make_node(db)
    alice = make_customer(db)

    response = client.get(
        f"/s/{alice.short_code}",
        headers={
            "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
            "User-Agent": "Mozilla/5.0",
        },
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "<svg" in page and 'class="qr"' in page
    for scheme in (
        "clash://install-config?url=",
        "sing-box://import-remote-profile?url=",
        "shadowrocket://add/sub://",
        "v2rayng://install-config?url=",
        "hiddify://import/",
        "stash://install-config?url=",
        "quantumult-x:///add-resource?remote-resource=",
        "surge:///install-config?url=",
    ):
        assert scheme in page
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_clients_accepting_anything_get_the_subscription_not_the_page(client, db: Database):
    make_node(db)
    alice = make_customer(db)
    for accept in ("*/*", "", "text/plain, */*;q=0.8"):
        response = client.get(f"/api/subscription/{alice.token}", headers={"Accept": accept})
        assert response.mimetype == "text/plain", accept
        assert base64.b64decode(response.data).decode().startswith(("vless://", "trojan://"))


def test_unknown_malformed_and_tricky_tokens_all_get_the_same_404(
    client: FlaskClient, db: Database
):
    alice = make_customer(db)
    paths = [
        "/api/subscription/" + "A" * 43,
        "/api/subscription/short",
        "/api/subscription/../../etc/passwd",
        "/api/subscription/%2e%2e%2fetc%2fpasswd",
        "/api/subscription/abc%00def",
        "/api/subscription/" + "x" * 5000,
        "/s/zzzzzzzz",
        "/s/../admin",
        "/sub/" + "B" * 43 + ".yaml",
        "/sub/" + alice.token + ".exe",
        f"/api/subscription/{alice.token[:-1]}",
    ]
    bodies = set()
    for path in paths:
        response = client.get(path, headers=CLIENT)
        assert response.status_code == 404, path
        bodies.add(response.data)
    assert len(bodies) == 1
    assert json.loads(bodies.pop()) == {
        "code": "SUBSCRIPTION_NOT_FOUND",
        "message": "no subscription at this address",
        "details": {},
    }
    assert stats(client, db, alice.token).access_count == 0


def test_disabled_expired_and_over_quota_users_get_403_with_code(client: FlaskClient, db: Database):
    make_node(db)
    disabled = make_customer(db, "d@example.com", enabled=False)
    expired = make_customer(db, "e@example.com")
    expire_user(db, expired.id)
    heavy = make_customer(db, "h@example.com", traffic_bytes=1000)
    add_usage(db, heavy.id, up=600, down=600)

    codes = {
        who.email: client.get(f"/api/subscription/{who.token}", headers=CLIENT)
        for who in (disabled, expired, heavy)
    }

    assert {k: (r.status_code, body(r)["code"]) for k, r in codes.items()} == {
        "d@example.com": (403, "USER_DISABLED"),
        "e@example.com": (403, "USER_EXPIRED"),
        "h@example.com": (403, "TRAFFIC_EXCEEDED"),
    }
    assert stats(client, db, heavy.token).access_count == 1  # refused fetches are still counted


def test_each_fetch_updates_access_stats(client: FlaskClient, db: Database):
    make_node(db)
    alice = make_customer(db)

    client.get(
        f"/api/subscription/{alice.token}", headers={"User-Agent": "ClashMetaForAndroid/2.8"}
    )
    client.get(f"/s/{alice.short_code}", headers={"User-Agent": "Shadowrocket/2070"})

    sub = stats(client, db, alice.token)
    assert sub.access_count == 2
    assert sub.last_access_ua == "Shadowrocket/2070"
    assert sub.last_access_ip == "127.0.0.1"
    assert sub.last_access_at is not None


def test_regenerated_link_makes_the_old_token_404_at_once(client: FlaskClient, db: Database):
    make_node(db)
    alice = make_customer(db)
    assert client.get(f"/api/subscription/{alice.token}", headers=CLIENT).status_code == 200

    with transaction(db.sessions) as session:
        from vpanel_core.models import User
        from vpanel_core.services import subscriptions

        user = session.get(User, alice.id)
        assert user is not None
        fresh = subscriptions.regenerate(session, user).token
    settle(client)

    assert client.get(f"/api/subscription/{alice.token}", headers=CLIENT).status_code == 404
    assert client.get(f"/s/{alice.short_code}", headers=CLIENT).status_code == 404
    assert client.get(f"/api/subscription/{fresh}", headers=CLIENT).status_code == 200


def test_token_guessing_is_cut_off_with_429_even_for_valid_tokens(client, portal_app, db):
    make_node(db)
    alice = make_customer(db)
    with_limits(portal_app, subscription_miss=Limit(3, 600))

    answers = [
        client.get("/api/subscription/" + f"{i:043d}", headers=CLIENT).status_code for i in range(5)
    ]
    valid = client.get(f"/api/subscription/{alice.token}", headers=CLIENT)

    assert answers == [404, 404, 404, 429, 429]
    assert valid.status_code == 429
    assert body(valid)["code"] == "RATE_LIMITED"
    assert 0 < int(valid.headers["Retry-After"]) <= 600


def test_fetching_too_often_gets_429_with_retry_after(client, portal_app, db):
    make_node(db)
    alice = make_customer(db)
    with_limits(portal_app, subscription=Limit(2, 60))

    codes = [
        client.get(f"/api/subscription/{alice.token}", headers=CLIENT).status_code for _ in range(3)
    ]

    assert codes == [200, 200, 429]


def test_disabled_user_in_browser_sees_an_html_error_page(client: FlaskClient, db: Database):
    blocked = make_customer(db, enabled=False)
    set_user(db, blocked.id, enabled=False)

    response = client.get(f"/api/subscription/{blocked.token}", headers={"Accept": "text/html"})

    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert 'data-code="USER_DISABLED"' in response.get_data(as_text=True)
