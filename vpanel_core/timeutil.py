"""Aware-UTC time helpers: the domain never accepts a naive datetime."""

from __future__ import annotations

from datetime import UTC, datetime

from vpanel_core.errors import ValidationError


def utcnow() -> datetime:
    return datetime.now(UTC)


def require_aware(value: datetime, what: str = "datetime") -> datetime:
    """Reject naive datetimes: guessing their zone silently shifts expiries by hours."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"{what} must carry a time zone (got naive {value.isoformat()})")
    return value.astimezone(UTC)
