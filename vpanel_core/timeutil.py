"""Aware-UTC time helpers: the domain never accepts a naive datetime."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from vpanel_core.errors import ValidationError


def utcnow() -> datetime:
    return datetime.now(UTC)


def require_aware(value: datetime, what: str = "datetime") -> datetime:
    """Reject naive datetimes: guessing their zone silently shifts expiries by hours."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"{what} must carry a time zone (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The instant `day` begins in the operator's zone (day and period boundaries)."""
    return datetime(day.year, day.month, day.day, tzinfo=tz)
