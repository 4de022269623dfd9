"""Tampered, expired, replayed or foreign messages: rejected with a code, logged, not applied."""

from __future__ import annotations

import gzip
import logging
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, func, select

from tests.sync.conftest import Pair
from tests.sync.world import seed_desktop
from vpanel_core.db import transaction
from vpanel_core.models import User
from vpanel_core.sync import envelope, keys
from vpanel_core.sync.envelope import CONTENT_TYPE
from vpanel_core.sync.errors import MessageExpired, MessageReplayed, SignatureInvalid
from vpanel_core.sync.models import SyncPeer
from vpanel_core.timeutil import utcnow

HEADERS = {"Content-Type": CONTENT_TYPE}


def portal_users(pair: Pair) -> int:
    with pair.portal.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(User)) or 0)


def captured_publish(pair: Pair) -> bytes:
    """The first publish message the desktop really sends (not delivered)."""
    captured: list[bytes] = []
    original = pair.transport.send

    def capture(method: str, url: str, *, body: bytes | None = None, headers: dict[str, str]):
        if url.endswith("/api/sync/publish") and body is not None and not captured:
            captured.append(body)
            raise RuntimeError("captured")
        return original(method, url, body=body, headers=headers)

    pair.transport.send = capture  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        pair.client.sync_once()
    pair.transport.send = original  # type: ignore[method-assign]
    return captured[0]


def tampered(data: bytes) -> bytes:
    """The same JSON meaning, one byte different: the signature must no longer hold."""
    token, _, body = gzip.decompress(data).decode().partition("\n")
    return gzip.compress(f"{token}\n{body.replace(':', ': ', 1)}".encode())


def tampered_token(data: bytes) -> bytes:
    token, _, body = gzip.decompress(data).decode().partition("\n")
    header, claims, signature = token.split(".")
    flipped = claims[:20] + ("A" if claims[20] != "A" else "B") + claims[21:]
    return gzip.compress(f"{header}.{flipped}.{signature}\n{body}".encode())


def post(pair: Pair, data: bytes):
    return pair.app.test_client().post("/api/sync/publish", data=data, headers=HEADERS)


def test_tampered_publication_is_rejected_logged_and_not_applied(
    paired: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    seed_desktop(paired.desktop, n_users=3)
    data = captured_publish(paired)
    with caplog.at_level(logging.WARNING, "vpanel.sync"):
        for forged in (tampered(data), tampered_token(data)):
            response = post(paired, forged)
            assert response.status_code == 401
            assert response.get_json()["code"] == "SYNC_SIGNATURE_INVALID"
    assert caplog.text.count("SYNC_SIGNATURE_INVALID") == 2
    assert portal_users(paired) == 0
    assert post(paired, data).status_code == 200  # the genuine message still applies once


def test_replayed_publication_is_rejected_and_changes_nothing(paired: Pair) -> None:
    seed_desktop(paired.desktop, n_users=3)
    data = captured_publish(paired)
    assert post(paired, data).status_code == 200
    with transaction(paired.portal.sessions) as session:
        session.execute(delete(User))
    response = post(paired, data)
    assert response.status_code == 409
    assert response.get_json()["code"] == "SYNC_MESSAGE_REPLAYED"
    assert portal_users(paired) == 0


def test_expired_publication_is_rejected(paired: Pair) -> None:
    with transaction(paired.desktop.sessions) as session:
        me = keys.identity(session, paired.client.box)
    body = {"mode": "delta", "from_version": 0, "to_version": 1, "publication": {}}
    stale = envelope.seal(me, "portal", "publish", body, now=utcnow() - timedelta(minutes=30))
    response = post(paired, stale)
    assert response.status_code == 401
    assert response.get_json()["code"] == "SYNC_MESSAGE_EXPIRED"


def test_message_signed_by_an_unpaired_key_is_rejected(paired: Pair) -> None:
    stranger = keys.Identity(Ed25519PrivateKey.generate())
    body = {"mode": "snapshot", "to_version": 1, "final": True, "publication": {"users": []}}
    response = post(paired, envelope.seal(stranger, "portal", "publish", body))
    assert response.status_code == 401
    assert response.get_json()["code"] == "SYNC_SIGNATURE_INVALID"


def test_tampered_events_page_is_rejected_by_the_desktop_and_cursor_stays(paired: Pair) -> None:
    original = paired.transport.send

    def tamper(method: str, url: str, *, body: bytes | None = None, headers: dict[str, str]):
        reply = original(method, url, body=body, headers=headers)
        if "/api/sync/events" in url:
            return type(reply)(reply.status, tampered(reply.body), None)
        return reply

    paired.transport.send = tamper  # type: ignore[method-assign]
    with pytest.raises(SignatureInvalid):
        paired.client.pull_events()
    with paired.desktop.sessions() as session:
        assert session.get(SyncPeer, "portal").events_cursor == 0  # type: ignore[union-attr]


def test_envelope_rules_hold_without_http(paired: Pair) -> None:
    me = keys.Identity(Ed25519PrivateKey.generate())
    public = me.private_key.public_key()
    data = envelope.seal(me, "portal", "publish", {"x": 1})
    message = envelope.open_message(data, public, "portal", "publish")
    with pytest.raises(MessageExpired):
        envelope.open_message(data, public, "portal", "publish", now=utcnow() + timedelta(hours=1))
    with transaction(paired.portal.sessions) as session:
        envelope.accept_once(session, message)
    with pytest.raises(MessageReplayed), transaction(paired.portal.sessions) as session:
        envelope.accept_once(session, message)
