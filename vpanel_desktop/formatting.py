"""How numbers and times look on screen (binary units, like proxy clients show them)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def human_bytes(value: int | None, unlimited: str = "∞") -> str:
    if value is None:
        return unlimited
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} TiB"  # pragma: no cover - loop always returns


def local_time(value: datetime | None, tz: ZoneInfo, empty: str = "—") -> str:
    if value is None:
        return empty
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def money(minor: int, currency: str) -> str:
    return f"{minor / 100:,.2f} {currency}"


def mask(secret: str, keep: int = 4) -> str:
    """Enough of a token to recognise it, never enough to use it."""
    if len(secret) <= keep * 2:
        return "•" * len(secret)
    return f"{secret[:keep]}…{secret[-keep:]}"
