"""The token a node presents to pull its entitlements from the portal.

Derived from the node's own `api_secret` (which the desktop already installs on the node),
so the node helper computes it locally and nothing new must be pushed or stored; the
desktop publishes only its SHA-256. Rotating the node's api secret rotates the token.
"""

from __future__ import annotations

import hashlib
import hmac


def pull_token(api_secret: str) -> str:
    return hmac.new(api_secret.encode(), b"vpanel-entitlement-pull", hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
