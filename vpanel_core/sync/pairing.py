"""Pairing: the operator types a one-time code the portal showed into the desktop.

The desktop sends its public key signed with its private key (proof of possession) and
the code; the portal checks the code (stored hashed, single use, short-lived), keeps the
key and answers with its own public key, signed, and bound to the code, so the desktop
knows it talked to the portal that issued the code.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from vpanel_core.sync import envelope
from vpanel_core.sync.errors import PairingCodeInvalid
from vpanel_core.sync.keys import Identity, key_id, load_public
from vpanel_core.sync.models import SyncPairingCode, SyncPeer
from vpanel_core.timeutil import utcnow

log = logging.getLogger("vpanel.sync")

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 12
CODE_TTL = timedelta(minutes=15)
PORTAL, DESKTOP = "portal", "desktop"


def normalize(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch in ALPHABET)


def code_hash(code: str) -> str:
    return hashlib.sha256(normalize(code).encode()).hexdigest()


def binding(code: str, desktop_key_id: str) -> str:
    """What the portal proves it knew: the code, tied to the key it paired."""
    return hashlib.sha256(f"{normalize(code)}:{desktop_key_id}".encode()).hexdigest()


def issue_code(session: Session, now: datetime | None = None) -> str:
    """A new one-time code, shown to the operator (formatted XXXX-XXXX-XXXX)."""
    now = now or utcnow()
    session.execute(delete(SyncPairingCode).where(SyncPairingCode.expires_at < now))
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    session.add(SyncPairingCode(code_hash=code_hash(code), expires_at=now + CODE_TTL))
    session.flush()
    return "-".join(code[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def request(me: Identity, code: str) -> bytes:
    """Desktop: the signed pairing request."""
    return envelope.seal(me, PORTAL, "pair", {"code": normalize(code), "public_key": me.public_pem})


def accept(session: Session, me: Identity, data: bytes, now: datetime | None = None) -> bytes:
    """Portal: check the request and the code, remember the desktop, answer signed."""
    body = envelope.unverified_body(data)
    desktop_key = load_public(str(body.get("public_key", "")))
    message = envelope.open_message(data, desktop_key, PORTAL, "pair", now=now)
    code = str(message.body.get("code", ""))
    used = session.execute(
        update(SyncPairingCode)
        .where(
            SyncPairingCode.code_hash == code_hash(code),
            SyncPairingCode.used_at.is_(None),
            SyncPairingCode.expires_at > (now or utcnow()),
        )
        .values(used_at=now or utcnow())
    )
    if getattr(used, "rowcount", 0) != 1:
        log.warning("sync pairing rejected: SYNC_PAIRING_CODE_INVALID")
        raise PairingCodeInvalid("pairing code is wrong, expired or already used")
    envelope.accept_once(session, message)
    pem = str(body["public_key"])
    _remember(session, DESKTOP, pem, "")
    answer = {"public_key": me.public_pem, "binding": binding(code, key_id(pem))}
    return envelope.seal(me, DESKTOP, "paired", answer)


def _remember(session: Session, role: str, pem: str, url: str) -> None:
    """Replace the peer: a new pairing starts both directions from the beginning."""
    session.execute(delete(SyncPeer).where(SyncPeer.role == role))
    session.add(SyncPeer(role=role, public_key=pem, key_id=key_id(pem), url=url))
    session.flush()


def complete(session: Session, me: Identity, code: str, url: str, answer: bytes) -> SyncPeer:
    """Desktop: verify the portal's answer and remember the portal."""
    body: dict[str, Any] = envelope.unverified_body(answer)
    portal_key = load_public(str(body.get("public_key", "")))
    message = envelope.open_message(answer, portal_key, DESKTOP, "paired")
    if message.body.get("binding") != binding(code, me.key_id):
        raise PairingCodeInvalid("the portal's answer is not bound to this code")
    envelope.accept_once(session, message)
    _remember(session, PORTAL, str(body["public_key"]), url.rstrip("/"))
    peer = session.get(SyncPeer, PORTAL)
    assert peer is not None
    return peer
