"""Operator settings that are secrets: stored sealed, read back only on demand.

Kept apart from `vpanel_core.settings` so ordinary settings stay plain JSON while
these are never written to the database (or shown) in plain text.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from vpanel_core import settings
from vpanel_core.secretbox import SecretBox, is_sealed

SECRET_KEYS = (
    "smtp_password",
    "stripe_secret_key",
    "stripe_webhook_secret",
    "trongrid_api_key",
    "sync_key",
)


def is_set(session: Session, key: str) -> bool:
    return is_sealed(settings.get(session, key))


def put(session: Session, box: SecretBox, key: str, value: str) -> None:
    """Seal and store; an empty value clears the secret."""
    if key not in SECRET_KEYS:
        raise KeyError(key)
    settings.put(session, key, box.seal(value) if value else "")


def get(session: Session, box: SecretBox, key: str) -> str:
    stored = settings.get(session, key)
    return box.open(stored) if is_sealed(stored) else ""
