"""Typed operator settings stored in the `settings` table, with embedded defaults."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from vpanel_core.errors import ValidationError
from vpanel_core.models import Setting

DEFAULTS: dict[str, Any] = {
    "timezone": "UTC",
    "portal_url": "http://127.0.0.1:8080",
    "site_name": "vpanel",
    "support_url": "",
    "announce": "",
    "profile_update_interval_hours": 12,
    "language": "en",
    "usage_collect_minutes": 5,  # automatic usage collection in the desktop; 0: off
}
MAX_COLLECT_MINUTES = 1440


def get(session: Session, key: str) -> Any:
    row = session.get(Setting, key)
    return row.value if row is not None else DEFAULTS.get(key)


def put(session: Session, key: str, value: Any) -> None:
    if key == "timezone":
        zone(value)
    if key == "usage_collect_minutes":
        check_collect_minutes(value)
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value))
    else:
        row.value = value


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {name!r} (use e.g. Asia/Shanghai)") from None


def check_collect_minutes(value: Any) -> None:
    """Whole minutes between automatic collections, at most a day apart (0: off)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"usage collection interval must be whole minutes (got {value!r})")
    if not 0 <= value <= MAX_COLLECT_MINUTES:
        raise ValidationError(
            f"usage collection interval must be 0 (off) to {MAX_COLLECT_MINUTES} minutes"
        )


def operator_zone(session: Session) -> ZoneInfo:
    return zone(str(get(session, "timezone")))
