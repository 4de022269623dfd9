"""Input checks shared by CLI, portal and desktop, each failing with one clear message."""

from __future__ import annotations

import re

from vpanel_core.entitlement import ResetStrategy
from vpanel_core.errors import ValidationError

EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
MAX_DAYS = 36_500
MAX_BYTES = 1 << 60


def email(value: str) -> str:
    value = value.strip()
    if len(value) > 254 or not EMAIL_RE.match(value):
        raise ValidationError(f"invalid e-mail address: {value!r}")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def username(value: str) -> str:
    value = value.strip()
    if not USERNAME_RE.match(value):
        raise ValidationError(
            "username must be 3-64 characters of letters, digits, '_', '.', '@' or '-'"
        )
    return value


def days(value: float, what: str = "days") -> float:
    if not 0 <= value <= MAX_DAYS:
        raise ValidationError(f"{what} must be between 0 and {MAX_DAYS}, got {value}")
    return value


def byte_count(value: int, what: str = "traffic") -> int:
    if not 0 <= value <= MAX_BYTES:
        raise ValidationError(f"{what} must be between 0 and {MAX_BYTES} bytes, got {value}")
    return value


def reset_strategy(value: str) -> ResetStrategy:
    try:
        return ResetStrategy(value)
    except ValueError:
        allowed = ", ".join(s.value for s in ResetStrategy)
        raise ValidationError(f"reset strategy must be one of {allowed}, got {value!r}") from None


UNITS = {
    "": 1,
    "B": 1,
    "K": 1 << 10,
    "KB": 1 << 10,
    "KIB": 1 << 10,
    "M": 1 << 20,
    "MB": 1 << 20,
    "MIB": 1 << 20,
    "G": 1 << 30,
    "GB": 1 << 30,
    "GIB": 1 << 30,
    "T": 1 << 40,
    "TB": 1 << 40,
    "TIB": 1 << 40,
}


def parse_size(text: str) -> int:
    """'50GB', '512 MiB', '0' → bytes (binary units, as clients display them)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not match or match.group(2).upper() not in UNITS:
        raise ValidationError(f"invalid size {text!r}: use e.g. 500MB, 50GB, 1TB")
    return byte_count(int(float(match.group(1)) * UNITS[match.group(2).upper()]))
