"""Random secrets and constant-time comparison in one place."""

from __future__ import annotations

import hmac
import secrets

SHORT_CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"


def new_token() -> str:
    """43 URL-safe characters (256 bits): unguessable subscription / API tokens."""
    return secrets.token_urlsafe(32)


def new_short_code() -> str:
    """8 characters without look-alikes (0/O, 1/l/I) for links people type."""
    return "".join(secrets.choice(SHORT_CODE_ALPHABET) for _ in range(8))


def new_proxy_secret() -> str:
    return secrets.token_urlsafe(24)


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
