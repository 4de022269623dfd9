"""Who is asking: signed JWT sessions (cookie or Bearer), and CSRF tokens for forms.

A session JWT names the user, a random id (revocable at logout), a CSRF secret, and a
fingerprint of the password hash, so changing the password ends every other session.
Any portal process holding the same secret key and database accepts it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from flask import g, request
from werkzeug.wrappers import Response

from portal.config import PortalConfig
from portal.state import portal, unit
from vpanel_core.errors import DomainError
from vpanel_core.models import User
from vpanel_core.secrets_util import same
from vpanel_core.services import accounts
from vpanel_core.timeutil import utcnow

SESSION_COOKIE = "vp_session"
CSRF_COOKIE = "vp_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
ALGORITHM = "HS256"
AUDIENCE = "vpanel-portal"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: endpoints that use no ambient credential (cookie), so there is nothing to forge
# Sync endpoints carry their own signature (like webhooks): no cookies, no CSRF.
CSRF_EXEMPT_ENDPOINTS = frozenset({"api.issue_token", "sync_api.pair", "sync_api.publish"})


class LoginRequired(DomainError):
    code = "LOGIN_REQUIRED"
    http_status = 401

    def __init__(self) -> None:
        super().__init__("log in first")


class Forbidden(DomainError):
    code = "FORBIDDEN"
    http_status = 403

    def __init__(self) -> None:
        super().__init__("you may not do this")


class CsrfFailed(DomainError):
    code = "CSRF_FAILED"
    http_status = 403

    def __init__(self) -> None:
        super().__init__("missing or wrong CSRF token; reload the page and try again")


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: uuid.UUID
    jti: str
    csrf: str
    fingerprint: str
    expires_at: datetime


def password_fingerprint(config: PortalConfig, password_hash: str | None) -> str:
    digest = hmac.new(config.secret_key.encode(), (password_hash or "").encode(), hashlib.sha256)
    return digest.hexdigest()[:24]


def issue(config: PortalConfig, user: User, now: datetime | None = None) -> tuple[str, Claims]:
    now = now or utcnow()
    claims = Claims(
        user_id=user.id,
        jti=secrets.token_urlsafe(18),
        csrf=secrets.token_urlsafe(24),
        fingerprint=password_fingerprint(config, user.password_hash),
        expires_at=now + timedelta(days=config.session_days),
    )
    payload = {
        "sub": str(user.id),
        "jti": claims.jti,
        "csrf": claims.csrf,
        "pwf": claims.fingerprint,
        "aud": AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
    }
    return jwt.encode(payload, config.secret_key, algorithm=ALGORITHM), claims


def decode(config: PortalConfig, token: str) -> Claims | None:
    """Claims of a valid, unexpired token signed by us; None for anything else."""
    if len(token) > 2048:
        return None
    try:
        data: dict[str, Any] = jwt.decode(
            token,
            config.secret_key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["sub", "jti", "exp", "iat", "aud"]},
        )
        return Claims(
            user_id=uuid.UUID(str(data["sub"])),
            jti=str(data["jti"]),
            csrf=str(data.get("csrf", "")),
            fingerprint=str(data.get("pwf", "")),
            expires_at=datetime.fromtimestamp(int(data["exp"]), UTC),
        )
    except (jwt.InvalidTokenError, ValueError, TypeError):
        return None


def load_identity() -> None:
    """Before each request: resolve the Bearer token or session cookie to a live user."""
    g.user, g.claims, g.bearer = None, None, False
    header = request.headers.get("Authorization", "")
    token = request.cookies.get(SESSION_COOKIE, "")
    if header.lower().startswith("bearer "):
        token, g.bearer = header[7:].strip(), True
    if not token:
        return
    config = portal().config
    claims = decode(config, token)
    if claims is None:
        return
    with unit() as session:
        user = session.get(User, claims.user_id)
        if user is None or accounts.session_revoked(session, claims.jti):
            return
        if not same(claims.fingerprint, password_fingerprint(config, user.password_hash)):
            return
    g.user, g.claims = user, claims


def current_user() -> User | None:
    user: User | None = g.get("user")
    return user


def require_user() -> User:
    user = current_user()
    if user is None:
        raise LoginRequired()
    return user


def require_admin() -> User:
    user = require_user()
    if user.role != "admin":
        raise Forbidden()
    return user


def csrf_token() -> str:
    """The token forms must echo: the session's own, else a per-browser cookie value."""
    claims: Claims | None = g.get("claims")
    if claims is not None and claims.csrf:
        return claims.csrf
    token: str | None = g.get("csrf_cookie")
    if token is None:
        existing = request.cookies.get(CSRF_COOKIE, "")
        token = existing if 20 <= len(existing) <= 64 else secrets.token_urlsafe(24)
        g.csrf_cookie = token
        g.csrf_cookie_new = token != existing
    return token


def check_csrf() -> None:
    """Unsafe methods from cookie-authenticated browsers must carry the CSRF token.

    Bearer-token calls are exempt: a browser never attaches that header by itself.
    """
    if request.method not in UNSAFE_METHODS or g.get("bearer"):
        return
    if request.path.startswith("/webhooks/"):
        return  # payment providers: no cookies, authenticated by their own signature
    if request.endpoint in CSRF_EXEMPT_ENDPOINTS:
        return
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    if not sent or not same(sent, csrf_token()):
        raise CsrfFailed()


def store_csrf_cookie(response: Response) -> Response:
    if g.get("csrf_cookie_new"):
        config = portal().config
        response.set_cookie(
            CSRF_COOKIE,
            g.csrf_cookie,
            httponly=True,
            samesite="Lax",
            secure=config.cookie_secure,
            max_age=86400 * 30,
        )
    return response


def set_session_cookie(response: Response, token: str, claims: Claims) -> None:
    config = portal().config
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=config.cookie_secure,
        expires=claims.expires_at,
    )


def end_session(response: Response) -> None:
    """Revoke the current session id everywhere and drop the cookie."""
    claims: Claims | None = g.get("claims")
    if claims is not None:
        with unit() as session:
            accounts.revoke_session(session, claims.jti, claims.expires_at)
    response.delete_cookie(SESSION_COOKIE, samesite="Lax", secure=portal().config.cookie_secure)
