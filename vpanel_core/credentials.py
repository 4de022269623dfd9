"""Per-protocol credentials of a user, derived from the user's two stored secrets.

A user stores one UUID (`credential`) and one random `proxy_secret`; every protocol's
credential is derived from them, so rotating the user's secrets rotates all of them
and the node config never needs per-protocol user state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

SS2022_KEY_BYTES = {
    "2022-blake3-aes-128-gcm": 16,
    "2022-blake3-aes-256-gcm": 32,
    "2022-blake3-chacha20-poly1305": 32,
}


def user_password(proxy_secret: str) -> str:
    """Password for trojan / hysteria2 / tuic / anytls (the secret itself, URL-safe)."""
    return proxy_secret


def ss2022_user_key(proxy_secret: str, method: str) -> str:
    """A base64 key of the length the SS2022 method needs, stable for the user."""
    size = SS2022_KEY_BYTES[method]
    digest = hmac.new(proxy_secret.encode(), b"vpanel-ss2022", hashlib.sha256).digest()
    return base64.b64encode(digest[:size]).decode()


def inbound_user_name(user_id: uuid.UUID) -> str:
    """The name sing-box reports for the user in connection events (the accounting key)."""
    return str(user_id)
