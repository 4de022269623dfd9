"""Ed25519 identities: each side generates and keeps its own key pair.

The private key is stored sealed (SecretBox) in the side's own settings under
``sync_key``; only public keys ever cross the wire (at pairing).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from vpanel_core.errors import ValidationError
from vpanel_core.secretbox import SecretBox
from vpanel_core.services import secret_settings

SETTING = "sync_key"


@dataclass(frozen=True, slots=True)
class Identity:
    private_key: Ed25519PrivateKey

    @property
    def public_pem(self) -> str:
        return public_pem(self.private_key.public_key())

    @property
    def key_id(self) -> str:
        return key_id(self.public_pem)


def public_pem(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return raw.decode()


def key_id(pem: str) -> str:
    """Short fingerprint the operator can compare on both screens."""
    return hashlib.sha256(pem.strip().encode()).hexdigest()[:32]


def load_public(pem: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise ValidationError("not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValidationError("sync keys must be Ed25519")
    return key


def identity(session: Session, box: SecretBox) -> Identity:
    """This side's key pair, generated and stored on first use."""
    stored = secret_settings.get(session, box, SETTING)
    if stored:
        key = serialization.load_pem_private_key(stored.encode(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        return Identity(key)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    secret_settings.put(session, box, SETTING, pem)
    session.flush()
    return Identity(key)
