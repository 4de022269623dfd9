"""Secrets the app generates for inbounds: REALITY keys, SS2022 PSKs, passwords, certificates."""

from __future__ import annotations

import base64
import ipaddress
import secrets
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.x509.oid import NameOID

from vpanel_core.credentials import SS2022_KEY_BYTES
from vpanel_core.timeutil import utcnow

CERT_VALIDITY = timedelta(days=3650)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def reality_keypair() -> tuple[str, str]:
    """(private, public) x25519 keys, base64url without padding as sing-box and Xray print them."""
    private = X25519PrivateKey.generate()
    private_raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public_raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return _b64url(private_raw), _b64url(public_raw)


def reality_public_key(private_key: str) -> str:
    """The public half of a stored private key (to check a pair the operator pasted)."""
    raw = base64.urlsafe_b64decode(private_key + "=" * (-len(private_key) % 4))
    public = X25519PrivateKey.from_private_bytes(raw).public_key()
    return _b64url(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def short_ids(count: int = 4) -> list[str]:
    """REALITY short ids: 8 hex characters each (the protocol allows up to 16)."""
    return [secrets.token_hex(4) for _ in range(count)]


def ss2022_psk(method: str) -> str:
    """A server PSK of exactly the length the SS2022 method needs."""
    return base64.b64encode(secrets.token_bytes(SS2022_KEY_BYTES[method])).decode()


def password() -> str:
    return secrets.token_urlsafe(18)


def self_signed_certificate(name: str) -> tuple[str, str]:
    """(certificate PEM, key PEM) for `name` (a DNS name or an IP address)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        alt = x509.DNSName(name)
    now = utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + CERT_VALIDITY)
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()
