"""Encryption of secrets at rest (SSH keys, Stripe keys, sync keys, SMTP password).

Values are sealed with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) and
stored as ``enc:v1:<token>`` so a sealed value is recognisable and never confused
with plain text. The master key lives in the OS keyring when a real backend exists,
else in a 0600 file in the data directory; `SecretBox.key_location` says which, so
the UI can tell the operator what protects their secrets.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from vpanel_core.errors import ValidationError

PREFIX = "enc:v1:"
KEYRING_SERVICE = "vpanel"
KEYRING_ENTRY = "master-key"
KEY_FILE = "master.key"


@dataclass(frozen=True, slots=True)
class SecretBox:
    fernet: Fernet
    key_location: str

    def seal(self, plaintext: str) -> str:
        return PREFIX + self.fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        if not is_sealed(sealed):
            raise ValidationError("value is not an encrypted secret")
        try:
            return self.fernet.decrypt(sealed.removeprefix(PREFIX).encode()).decode()
        except InvalidToken:
            raise ValidationError(
                "secret cannot be decrypted with this master key (was the key replaced?)"
            ) from None


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _usable_keyring() -> object | None:
    """The keyring module when a real backend is configured (not the 'fail' one)."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:
        return None
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) <= 0:
        return None
    return keyring


def _key_from_keyring() -> tuple[bytes, str] | None:
    keyring = _usable_keyring()
    if keyring is None:
        return None
    try:
        stored = keyring.get_password(KEYRING_SERVICE, KEYRING_ENTRY)  # type: ignore[attr-defined]
        if stored is None:
            stored = Fernet.generate_key().decode()
            keyring.set_password(KEYRING_SERVICE, KEYRING_ENTRY, stored)  # type: ignore[attr-defined]
    except Exception:
        return None
    name = type(keyring.get_keyring()).__name__  # type: ignore[attr-defined]
    return stored.encode(), f"OS keyring ({name})"


def _key_from_file(directory: Path) -> tuple[bytes, str]:
    path = directory / KEY_FILE
    if not path.exists():
        key = Fernet.generate_key()
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(key)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return path.read_bytes().strip(), f"key file {path} (mode 0600)"


def load(directory: Path, *, use_keyring: bool = True) -> SecretBox:
    """The box for this data directory, creating the master key on first use."""
    found = _key_from_keyring() if use_keyring else None
    key, where = found or _key_from_file(directory)
    return SecretBox(Fernet(key), where)
