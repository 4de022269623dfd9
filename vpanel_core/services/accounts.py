"""Customer accounts on the portal: register, verify e-mail, log in, reset and change secrets.

One-time links carry a random token; only its SHA-256 is stored, each is single-use and
expires. Unknown, used and expired tokens fail identically.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from vpanel_core import validation
from vpanel_core.errors import Conflict, DomainError, ValidationError
from vpanel_core.models import AccountToken, RevokedSession, User
from vpanel_core.passwords import check_length, hash_password, verify_password
from vpanel_core.services import users
from vpanel_core.timeutil import require_aware, utcnow

VERIFY = "verify"
RESET = "reset"
EMAIL_CHANGE = "email"
TOKEN_TTL = {
    VERIFY: timedelta(days=2),
    RESET: timedelta(hours=1),
    EMAIL_CHANGE: timedelta(days=1),
}


class InvalidCredentials(DomainError):
    code = "INVALID_CREDENTIALS"
    http_status = 401

    def __init__(self) -> None:
        super().__init__("wrong e-mail or password")


class EmailNotVerified(DomainError):
    code = "EMAIL_NOT_VERIFIED"
    http_status = 403

    def __init__(self) -> None:
        super().__init__("confirm your e-mail address first (see the link we sent you)")


class LinkInvalid(DomainError):
    code = "LINK_INVALID"
    http_status = 404

    def __init__(self) -> None:
        super().__init__("this link is invalid, already used or expired")


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def register(session: Session, email: str, password: str) -> User:
    """A new customer with an unverified address and no entitlement yet."""
    address = validation.email(email)
    check_length(password)  # before anything is written
    if session.scalars(select(User.id).where(User.email == address)).first() is not None:
        raise Conflict("this e-mail address is already registered; log in or reset the password")
    name = address if validation.USERNAME_RE.match(address) else f"u_{secrets.token_hex(6)}"
    return users.create_user(
        session, users.NewUser(username=name, email=address, password=password)
    )


def check_new_password(password: str) -> None:
    """Refuse what `register` refuses, with the same argon2 work a registration does, so
    an address that is already taken answers like a new one, in the same time."""
    hash_password(password)


def issue_token(
    session: Session, user: User, purpose: str, *, email: str = "", now: datetime | None = None
) -> str:
    """A fresh one-time token for `purpose`; earlier unused ones of that purpose stop working."""
    now = require_aware(now or utcnow())
    session.execute(
        delete(AccountToken).where(
            AccountToken.user_id == user.id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        )
    )
    raw = secrets.token_urlsafe(32)
    session.add(
        AccountToken(
            token_hash=token_hash(raw),
            user_id=user.id,
            purpose=purpose,
            email=email,
            created_at=now,
            expires_at=now + TOKEN_TTL[purpose],
        )
    )
    session.flush()
    return raw


def consume_token(
    session: Session, raw: str, purpose: str, now: datetime | None = None
) -> AccountToken:
    """Mark the token used; one atomic UPDATE, so two clicks cannot both succeed."""
    now = require_aware(now or utcnow())
    if not 16 <= len(raw) <= 128:
        raise LinkInvalid()
    digest = token_hash(raw)
    result = session.execute(
        update(AccountToken)
        .where(
            AccountToken.token_hash == digest,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
            AccountToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        raise LinkInvalid()
    token = session.get(AccountToken, digest)
    assert token is not None
    return token


def verify_email(session: Session, raw: str) -> User:
    token = consume_token(session, raw, VERIFY)
    user = session.get(User, token.user_id)
    assert user is not None
    user.email_verified = True
    return user


def find_by_email(session: Session, email: str) -> User | None:
    try:
        address = validation.email(email)
    except DomainError:
        return None
    return session.scalars(select(User).where(User.email == address)).first()


def authenticate(session: Session, email: str, password: str) -> User:
    """The user whose e-mail and password match; as slow for unknown e-mails as for known."""
    user = find_by_email(session, email)
    if not verify_password(user.password_hash if user else None, password) or user is None:
        raise InvalidCredentials()
    if not user.email_verified:
        raise EmailNotVerified()
    return user


def reset_password(session: Session, raw: str, new_password: str) -> User:
    password_hash = hash_password(new_password)
    token = consume_token(session, raw, RESET)
    user = session.get(User, token.user_id)
    assert user is not None
    user.password_hash = password_hash
    # Whoever can read the mailbox owns the address: the reset also proves it.
    user.email_verified = True
    return user


def verify_password_of(user: User, password: str) -> bool:
    return verify_password(user.password_hash, password)


def change_password(session: Session, user: User, current: str, new_password: str) -> None:
    if not verify_password(user.password_hash, current):
        raise InvalidCredentials()
    user.password_hash = hash_password(new_password)


def request_email_change(session: Session, user: User, new_email: str) -> tuple[str, str]:
    """(token, normalised address); the address changes only when the link is opened."""
    address = validation.email(new_email)
    if address == user.email:
        raise Conflict("this is already your e-mail address")
    clash = session.scalars(select(User.id).where(User.email == address)).first()
    if clash is not None:
        raise Conflict("this e-mail address is already registered")
    return issue_token(session, user, EMAIL_CHANGE, email=address), address


def confirm_email_change(session: Session, raw: str) -> User:
    token = consume_token(session, raw, EMAIL_CHANGE)
    user = session.get(User, token.user_id)
    assert user is not None
    users.update_profile(session, user, email=token.email)
    user.email_verified = True
    return user


def set_alias(session: Session, user: User, alias: str) -> None:
    cleaned = alias.strip()
    if len(cleaned) > 64 or any(not c.isprintable() for c in cleaned):
        raise ValidationError("alias must be at most 64 printable characters")
    user.alias = cleaned


def revoke_session(session: Session, jti: str, expires_at: datetime) -> None:
    if session.get(RevokedSession, jti) is None:
        session.add(RevokedSession(jti=jti, expires_at=expires_at))
    session.execute(delete(RevokedSession).where(RevokedSession.expires_at < utcnow()))


def session_revoked(session: Session, jti: str) -> bool:
    return session.get(RevokedSession, jti) is not None


def peek_token(session: Session, raw: str, purpose: str, now: datetime | None = None) -> None:
    """Raise `LinkInvalid` unless the token is live (shows a form before consuming it)."""
    now = require_aware(now or utcnow())
    if not 16 <= len(raw) <= 128:
        raise LinkInvalid()
    token = session.get(AccountToken, token_hash(raw))
    if token is None or token.purpose != purpose or token.used_at or token.expires_at <= now:
        raise LinkInvalid()
