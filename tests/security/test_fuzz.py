"""Property tests: whatever arrives, every endpoint that takes input answers 2xx/3xx/4xx
with a coded error, never 500, and rejected input writes nothing.

Each property runs at least 100 examples (hypothesis) against the real app in-process.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from portal.app import close_app, create_app
from portal.config import CaptchaSettings
from tests.fixtures.portal import make_config
from tests.fixtures.portal_process import SiteverifyStub
from tests.fixtures.stripe_emulator import WEBHOOK_SECRET, sign
from tests.security.world import Person, browser, open_shop, person
from tests.sync.conftest import PORTAL_URL, FlaskTransport
from vpanel_core import secretbox
from vpanel_core.billing.stripe_pay.webhook import HANDLERS
from vpanel_core.db import transaction
from vpanel_core.models import Grant, Order, Payment, User, WebhookEvent
from vpanel_core.proxies import Protocol
from vpanel_core.runtime import open_database
from vpanel_core.sync import keys
from vpanel_core.sync.client import SyncClient
from vpanel_core.sync.envelope import CONTENT_TYPE

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: any text that can travel in a URL or form (no lone surrogates)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=80)
#: what HTTP header values may carry (latin-1, no control characters)
HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=300
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
FORMATS = ["clash", "clash_meta", "sing_box", "shadowrocket", "surge", "stash", "loon", "sip008"]


def rows(app: Flask, *models: type) -> tuple[int, ...]:
    with transaction(app.extensions["vpanel"].database.sessions) as session:
        return tuple(int(session.scalar(select(func.count()).select_from(m)) or 0) for m in models)


def coded(response: Any) -> None:
    """A 4xx JSON error always names its code; nothing ever answers 500."""
    assert response.status_code < 500 or response.status_code == 503, response.data[:300]
    if response.status_code >= 400 and response.mimetype == "application/json":
        assert isinstance(response.get_json().get("code"), str)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, siteverify: SiteverifyStub) -> Iterator[Flask]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    captcha = CaptchaSettings(
        provider="turnstile", site_key="k", secret="s", verify_url=siteverify.url
    )
    app = create_app(make_config(f"sqlite:///{path}", captcha=captcha))
    app.testing = True
    open_shop(app)
    yield app
    close_app(app)
    app.extensions["vpanel"].database.engine.dispose()


@pytest.fixture(scope="module")
def alice(app: Flask) -> Person:
    return person(app)


@pytest.fixture(scope="module")
def admin(app: Flask) -> Person:
    return person(app, role="admin")


# --- subscription options -------------------------------------------------------------


@FUZZ
@given(
    fmt=st.none() | st.sampled_from(FORMATS) | TEXT,
    protocols=st.none()
    | st.lists(st.sampled_from([p.value for p in Protocol]) | TEXT, max_size=4).map(",".join),
    agent=HEADER_TEXT,
    accept=st.sampled_from(["*/*", "text/html", "application/json", ""]) | HEADER_TEXT,
)
def test_subscription_options_answer_200_or_a_coded_400(
    app: Flask, alice: Person, fmt: str | None, protocols: str | None, agent: str, accept: str
):
    query = {k: v for k, v in (("format", fmt), ("protocols", protocols)) if v is not None}
    response = app.test_client().get(
        f"/api/subscription/{alice.token}",
        query_string=query,
        headers={"User-Agent": agent, "Accept": accept},
    )
    assert response.status_code in (200, 400), response.data[:300]
    if response.status_code == 400 and response.mimetype == "application/json":
        assert response.get_json()["code"] in ("INVALID_FORMAT", "VALIDATION_ERROR")
    if fmt in FORMATS and not protocols and response.status_code != 200:
        raise AssertionError(f"a known format was refused: {response.data[:200]!r}")


@FUZZ
@given(path=TEXT.filter(lambda p: p.strip("/.") != ""))
def test_any_path_under_the_subscription_prefixes_is_404_or_400(app: Flask, path: str):
    for prefix in ("/api/subscription/", "/s/", "/sub/"):
        response = app.test_client().get(prefix + path)
        assert response.status_code in (400, 404, 308), (prefix + path, response.status_code)


# --- Stripe webhooks ------------------------------------------------------------------

OBJECT_KEYS = [
    "id",
    "client_reference_id",
    "metadata",
    "payment_status",
    "amount_total",
    "currency",
    "payment_intent",
    "refunded",
    "amount_refunded",
    "amount",
]
EVENTS = st.fixed_dictionaries(
    {
        "id": st.one_of(st.just(None), st.integers(), TEXT).map(
            lambda v: v if not isinstance(v, str) else f"evt_{uuid.uuid4().hex}{v}"
        ),
        "type": st.sampled_from(sorted(HANDLERS)) | TEXT,
        "created": st.one_of(st.integers(-(2**63), 2**63), TEXT, st.none(), st.just(1_700_000_000)),
        "data": JSON
        | st.fixed_dictionaries(
            {"object": JSON | st.dictionaries(st.sampled_from(OBJECT_KEYS), JSON, max_size=6)}
        ),
    }
)
WRITES = (WebhookEvent, Payment, Grant, Order)


def deliver(app: Flask, payload: bytes, signature: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return app.test_client().post("/webhooks/stripe", data=payload, headers=headers)


@FUZZ
@given(
    payload=st.binary(max_size=2000) | JSON.map(lambda v: json.dumps(v).encode()),
    signature=st.none()
    | HEADER_TEXT
    | st.just("wrong").map(lambda _: sign(b"something else", WEBHOOK_SECRET)),
)
def test_unsigned_or_wrongly_signed_webhooks_are_400_and_write_nothing(
    app: Flask, payload: bytes, signature: str | None
):
    before = rows(app, *WRITES)
    response = deliver(app, payload, signature)
    assert response.status_code == 400, response.data[:300]
    assert response.get_json()["code"] == "BAD_SIGNATURE"
    assert rows(app, *WRITES) == before


@FUZZ
@given(event=EVENTS | JSON, stale=st.booleans())
def test_signed_events_of_any_shape_never_500_and_rejected_ones_write_nothing(
    app: Flask, event: Any, stale: bool
):
    payload = json.dumps(event).encode()
    timestamp = int(time.time()) - (3600 if stale else 0)
    before = rows(app, *WRITES)

    response = deliver(app, payload, sign(payload, WEBHOOK_SECRET, timestamp))

    coded(response)
    after = rows(app, *WRITES)
    if response.status_code != 200:
        assert after == before
    else:  # a well-formed event about no order of ours: remembered, nothing else
        assert after[1:] == before[1:] and after[0] - before[0] in (0, 1)
    if stale:
        assert response.status_code == 400


# --- forms ----------------------------------------------------------------------------

FORM_TEXT = TEXT | st.integers(0, 70_000).map(lambda n: "é" * n)


@FUZZ
@given(email=FORM_TEXT, password=FORM_TEXT, captcha=st.sampled_from(["", "ok"]))
def test_register_with_any_values_answers_a_page_never_500(
    app: Flask, email: str, password: str, captcha: str
):
    client, headers = browser(app, None)
    before = rows(app, User)
    form = {"email": email, "password": password, "cf-turnstile-response": captcha}
    response = client.post("/register", data=form, headers=headers)
    # No SMTP here: an accepted registration is kept and answers 503 MAIL_FAILED.
    assert response.status_code in (200, 400, 409, 413, 503), response.data[:300]
    created = rows(app, User)[0] - before[0]
    assert created == (1 if response.status_code in (200, 503) else 0)
    if response.status_code == 413:
        assert len(urlencode(form)) > 64 * 1024  # refused for its size only


@FUZZ
@given(email=FORM_TEXT, password=FORM_TEXT, as_json=st.booleans())
def test_login_with_any_values_is_refused_cleanly(
    app: Flask, email: str, password: str, as_json: bool
):
    client, headers = browser(app, None)
    if as_json:
        response = client.post("/api/auth/token", json={"email": email, "password": password})
    else:
        response = client.post(
            "/login", data={"email": email, "password": password}, headers=headers
        )
    assert response.status_code in (400, 401, 413, 429), response.data[:300]
    assert "vp_session" not in response.headers.get("Set-Cookie", "")


@FUZZ
@given(
    field=st.sampled_from(["alias", "password", "email"]),
    value=FORM_TEXT,
)
def test_profile_changes_with_any_values_never_500(
    app: Flask, alice: Person, field: str, value: str
):
    client, headers = browser(app, alice)
    form = {
        "alias": {"alias": value},
        "password": {"current": "wrong-password", "new": value},
        "email": {"password": "wrong-password", "email": value},
    }[field]
    response = client.post(f"/profile/{field}", data=form, headers=headers)
    assert response.status_code in (200, 302, 400, 401, 409, 413), response.data[:300]


@FUZZ
@given(
    page=st.none() | TEXT, per_page=st.none() | TEXT, q=st.none() | TEXT, status=st.none() | TEXT
)
def test_admin_list_parameters_are_200_or_a_coded_400(
    app: Flask,
    admin: Person,
    page: str | None,
    per_page: str | None,
    q: str | None,
    status: str | None,
):
    client, _ = browser(app, admin)
    args = {"page": page, "per_page": per_page, "q": q, "status": status}
    response = client.get(
        "/api/admin/subscriptions", query_string={k: v for k, v in args.items() if v is not None}
    )
    assert response.status_code in (200, 400), response.data[:300]
    coded(response)


# --- sync messages ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def paired(app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[keys.Identity]:
    """The portal paired with a desktop; yields the desktop's signing identity."""
    home = tmp_path_factory.mktemp("desktop")
    desktop = open_database(f"sqlite:///{home / 'desktop.db'}")
    box = secretbox.load(home, use_keyring=False)
    client = SyncClient(desktop, box, transport=FlaskTransport(app))
    client.pair(PORTAL_URL, app.extensions["vpanel_sync"].issue_pairing_code())
    with transaction(desktop.sessions) as session:
        identity = keys.identity(session, box)
    yield identity
    desktop.engine.dispose()


def sealed(key: Ed25519PrivateKey, claims: dict[str, Any], compress: bool) -> bytes:
    token = jwt.encode(claims, key, algorithm="EdDSA").encode()
    return gzip.compress(token) if compress else token


CLAIMS = st.fixed_dictionaries(
    {
        "iss": TEXT,
        "aud": st.sampled_from(["portal", "desktop"]) | TEXT,
        "kind": st.sampled_from(["publish", "pair", "events"]) | TEXT,
        "iat": st.just(int(time.time())) | st.integers(0, 2**40),
        "exp": st.just(int(time.time()) + 300) | st.integers(0, 2**40),
        "jti": TEXT,
        "body": JSON,
    }
)


@FUZZ
@given(
    data=st.binary(max_size=3000)
    | TEXT.map(str.encode)
    | st.tuples(CLAIMS, st.booleans()).map(
        lambda c: sealed(Ed25519PrivateKey.generate(), c[0], c[1])
    ),
    endpoint=st.sampled_from(["/api/sync/publish", "/api/sync/pair"]),
)
def test_random_or_foreign_sync_messages_are_rejected_and_change_nothing(
    app: Flask, paired: keys.Identity, data: bytes, endpoint: str
):
    before = rows(app, User, Grant, Order)
    response = app.test_client().post(endpoint, data=data, headers={"Content-Type": CONTENT_TYPE})
    assert 400 <= response.status_code < 500, response.data[:300]
    coded(response)
    assert rows(app, User, Grant, Order) == before


@FUZZ
@given(claims=CLAIMS, compress=st.booleans())
def test_messages_signed_by_the_paired_key_with_random_claims_never_500(
    app: Flask, paired: keys.Identity, claims: dict[str, Any], compress: bool
):
    claims = {**claims, "iss": paired.key_id}
    response = app.test_client().post(
        "/api/sync/publish",
        data=sealed(paired.private_key, claims, compress),
        headers={"Content-Type": CONTENT_TYPE},
    )
    coded(response)


@FUZZ
@given(
    token=HEADER_TEXT
    | CLAIMS.map(lambda c: jwt.encode(c, Ed25519PrivateKey.generate(), algorithm="EdDSA")),
    cursor=TEXT,
    node=HEADER_TEXT,
)
def test_events_and_node_pulls_with_random_tokens_are_refused(
    app: Flask, paired: keys.Identity, token: str, cursor: str, node: str
):
    client = app.test_client()
    events = client.get(
        "/api/sync/events",
        query_string={"cursor": cursor},
        headers={"Authorization": f"Bearer {token}"},
    )
    pull = client.get(
        "/api/node/entitlements",
        headers={"Authorization": f"Bearer {token}", "X-Node-Id": node},
    )
    assert 400 <= events.status_code < 500, events.data[:300]
    assert pull.status_code == 401, pull.data[:300]
