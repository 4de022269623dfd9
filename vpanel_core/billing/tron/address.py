"""TRON addresses: base58check (`T…`) ⇄ hex (`41…`), as TronGrid mixes both."""

from __future__ import annotations

import hashlib

from vpanel_core.errors import ValidationError

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _checksum(raw: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]


def to_hex(address: str) -> str:
    """`T…` → `41` + 40 hex digits; ValidationError for anything not a TRON address."""
    number = 0
    for char in address.strip():
        if char not in ALPHABET:
            raise ValidationError(f"not a TRON address: {address!r}")
        number = number * 58 + ALPHABET.index(char)
    raw = number.to_bytes(25, "big") if number.bit_length() <= 200 else b""
    if len(raw) != 25 or raw[0] != 0x41 or _checksum(raw[:21]) != raw[21:]:
        raise ValidationError(f"not a TRON address: {address!r}")
    return raw[:21].hex()


def from_hex(value: str) -> str:
    """`41…` or `0x…` (20 bytes, as in event logs) → `T…`."""
    digits = value.lower().removeprefix("0x")
    if len(digits) == 40:
        digits = "41" + digits
    raw = bytes.fromhex(digits)
    raw += _checksum(raw)
    number, out = int.from_bytes(raw, "big"), ""
    while number:
        number, rem = divmod(number, 58)
        out = ALPHABET[rem] + out
    return out


def is_valid(address: str) -> bool:
    try:
        to_hex(address)
    except ValidationError:
        return False
    return True
