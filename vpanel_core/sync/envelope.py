"""Signed, expiring, single-use messages: an EdDSA JWT binding a JSON body, gzip on the wire.

Claims: ``iss`` (sender key id), ``aud`` (receiver role), ``kind`` (what the body is),
``body_sha256`` (or ``body`` itself for header-sized messages),
``iat``/``exp`` (short life), ``jti`` (unique; the receiver stores it with the change the
message causes, so a replay is refused and a rejected message leaves no trace).
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import logging
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from vpanel_core.sync.errors import (
    MessageExpired,
    MessageMalformed,
    MessageReplayed,
    SignatureInvalid,
    SyncRejected,
)
from vpanel_core.sync.keys import Identity
from vpanel_core.sync.models import SyncSeenMessage
from vpanel_core.timeutil import utcnow

try:  # optional speed-up, same JSON either way (the signature covers the exact text sent)
    import orjson
except ImportError:  # pragma: no cover - depends on the installation
    orjson = None  # type: ignore[assignment]

log = logging.getLogger("vpanel.sync")

TTL = timedelta(minutes=5)
LEEWAY_SECONDS = 60
MAX_INFLATED_BYTES = 256 * 1024 * 1024
CONTENT_TYPE = "application/jwt"
GZIP_LEVEL = 1  # fastest: pages are repetitive JSON, level 1 still shrinks them ~3x


@dataclass(frozen=True, slots=True)
class Message:
    kind: str
    body: dict[str, Any]
    jti: str
    issuer: str
    expires_at: datetime


def _dumps(body: dict[str, Any]) -> str:
    """Compact JSON; orjson (if installed) is several times faster on snapshot pages."""
    if orjson is not None:
        try:
            return orjson.dumps(body).decode()
        except TypeError:  # e.g. an integer beyond 64 bits: the standard encoder copes
            pass
    return json.dumps(body, separators=(",", ":"))


def _loads(text: str) -> Any:
    return orjson.loads(text) if orjson is not None else json.loads(text)


def _claims(
    me: Identity, audience: str, kind: str, ttl: timedelta, now: datetime | None
) -> dict[str, Any]:
    issued = now or utcnow()
    return {
        "iss": me.key_id,
        "aud": audience,
        "kind": kind,
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
        "jti": uuid.uuid4().hex,  # new every call: a retry is a new message, never a replay
    }


def seal(
    me: Identity,
    audience: str,
    kind: str,
    body: dict[str, Any],
    *,
    ttl: timedelta = TTL,
    now: datetime | None = None,
) -> bytes:
    """gzip(JWT + newline + JSON body); the JWT signs the body's SHA-256.

    The body travels beside the token rather than inside it: large pages are then
    compressed as JSON and not base64-decoded character by character on arrival.
    """
    text = _dumps(body)
    claims = _claims(me, audience, kind, ttl, now)
    claims["body_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    token = jwt.encode(claims, me.private_key, algorithm="EdDSA")
    return gzip.compress(f"{token}\n{text}".encode(), compresslevel=GZIP_LEVEL)


def seal_token(
    me: Identity, audience: str, kind: str, body: dict[str, Any], *, ttl: timedelta = TTL
) -> str:
    """A small message as a single JWT with the body inside (for an Authorization header)."""
    claims = {**_claims(me, audience, kind, ttl, None), "body": body}
    return jwt.encode(claims, me.private_key, algorithm="EdDSA")


def _split(data: bytes) -> tuple[str, str]:
    """(token, body text) of a wire message; bounded so a gzip bomb cannot exhaust memory."""
    try:
        inflater = zlib.decompressobj(wbits=31)
        raw = inflater.decompress(data, MAX_INFLATED_BYTES)
        if inflater.unconsumed_tail:
            raise MessageMalformed("message too large")
        token, _, text = raw.decode().partition("\n")
    except (zlib.error, UnicodeDecodeError):
        raise MessageMalformed("message is not a gzip-compressed sealed message") from None
    return token, text


def _rejected(exc: SyncRejected) -> SyncRejected:
    log.warning("sync message rejected: %s (%s)", exc.code, exc.message)
    return exc


def open_message(
    data: bytes, sender: Ed25519PublicKey, audience: str, kind: str, *, now: datetime | None = None
) -> Message:
    """Verify signature, audience, kind, expiry and the body's hash; coded + logged on failure."""
    try:
        token, text = _split(data)
        claims = _decode(token, sender, audience, now)
        if claims.get("kind") != kind:
            raise MessageMalformed(f"expected a {kind!r} message")
        digest = hashlib.sha256(text.encode()).hexdigest()
        if not hmac.compare_digest(digest, str(claims.get("body_sha256", ""))):
            raise SignatureInvalid("the body does not match its signature")
        body = _loads(text)
        if not isinstance(body, dict):
            raise MessageMalformed("message body is not an object")
    except SyncRejected as exc:
        raise _rejected(exc) from None
    except ValueError:
        raise _rejected(MessageMalformed("message body is not JSON")) from None
    return _message(claims, body)


def open_token(
    token: str, sender: Ed25519PublicKey, audience: str, kind: str, *, now: datetime | None = None
) -> Message:
    """Verify a single-JWT message (see `seal_token`)."""
    try:
        claims = _decode(token, sender, audience, now)
        if claims.get("kind") != kind or not isinstance(claims.get("body"), dict):
            raise MessageMalformed(f"expected a {kind!r} message")
    except SyncRejected as exc:
        raise _rejected(exc) from None
    return _message(claims, claims["body"])


def _message(claims: dict[str, Any], body: dict[str, Any]) -> Message:
    expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
    return Message(str(claims["kind"]), body, str(claims["jti"]), str(claims["iss"]), expires)


def unverified_body(data: bytes) -> dict[str, Any]:
    """The body before verification: only for pairing, where it carries the key to verify with."""
    try:
        body = json.loads(_split(data)[1])
    except ValueError:
        raise MessageMalformed("message body is not JSON") from None
    if not isinstance(body, dict):
        raise MessageMalformed("message has no body")
    return body


def jti_of(sealed: bytes | str) -> str:
    """The id of a message this side sealed itself (to match the answer to it)."""
    token = sealed if isinstance(sealed, str) else _split(sealed)[0]
    return str(jwt.decode(token, options={"verify_signature": False}).get("jti", ""))


def _decode(
    token: str, sender: Ed25519PublicKey, audience: str, now: datetime | None
) -> dict[str, Any]:
    options: Any = {"require": ["exp", "iat", "jti", "aud", "iss"]}
    if now is not None:
        # Verify expiry against the caller's clock (tests travel in time).
        options["verify_exp"] = False
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            sender,
            algorithms=["EdDSA"],
            audience=audience,
            leeway=LEEWAY_SECONDS,
            options=options,
        )
    except jwt.ExpiredSignatureError:
        raise MessageExpired("message has expired") from None
    except jwt.InvalidSignatureError:
        raise SignatureInvalid("signature does not match the paired key") from None
    except jwt.InvalidAudienceError:
        raise MessageMalformed("message is addressed to someone else") from None
    except jwt.InvalidTokenError as exc:
        raise SignatureInvalid(f"invalid message: {exc}") from None
    if now is not None and now.timestamp() > int(claims["exp"]) + LEEWAY_SECONDS:
        raise MessageExpired("message has expired")
    return claims


def accept_once(session: Session, message: Message) -> None:
    """Record the message id in the caller's transaction; a seen id is a replay.

    Committed together with what the message changes: if applying fails, the id is
    not recorded and a retry (same content, new id) is accepted.
    """
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(SyncSeenMessage)
        .values(jti=message.jti, expires_at=message.expires_at)
        .on_conflict_do_nothing(index_elements=["jti"])
        .returning(SyncSeenMessage.jti)
    )
    if session.execute(stmt).first() is None:
        log.warning("sync message rejected: SYNC_MESSAGE_REPLAYED (jti %s)", message.jti)
        raise MessageReplayed(f"message {message.jti} was already accepted")


def forget_expired(session: Session, now: datetime | None = None) -> int:
    """Expired ids can go: an expired message is refused before its id is looked at."""
    cutoff = (now or utcnow()) - timedelta(seconds=LEEWAY_SECONDS + 1)
    result = session.execute(delete(SyncSeenMessage).where(SyncSeenMessage.expires_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
