"""What the operator asks for in an inbound, and the secrets the app generates for it.

Settings keys are the ones `vpanel_core.client_view` reads, plus server-only keys
(`reality_private_key`, `handshake_server`, `certificate_pem`, `key_pem`, `acme_email`,
`listen`) that never leave the operator's machine except inside the node's config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vpanel_core.credentials import SS2022_KEY_BYTES
from vpanel_core.errors import ValidationError
from vpanel_core.nodes import keygen
from vpanel_core.proxies import Protocol, Transport

VISION = "xtls-rprx-vision"
TRANSPORT_CAPABLE = frozenset({Protocol.VLESS, Protocol.VMESS, Protocol.TROJAN})
TLS_REQUIRED = frozenset({Protocol.TROJAN, Protocol.HYSTERIA2, Protocol.TUIC, Protocol.ANYTLS})
CONGESTION_CONTROLS = frozenset({"bbr", "cubic", "new_reno"})


@dataclass(frozen=True, slots=True)
class NewInbound:
    """An inbound as the operator describes it; `tls_mode` "" picks the protocol's default.

    `sni` is the certificate name for TLS and the borrowed site for REALITY; `client_host`
    / `client_port` are what clients dial when it differs from the node (CDN, NAT, relay).
    """

    tag: str
    protocol: str
    listen_port: int
    transport: str = "tcp"
    tls_mode: str = ""
    sni: str = ""
    client_host: str = ""
    client_port: int | None = None
    path: str = ""
    service_name: str = ""
    listen: str = ""
    method: str = "2022-blake3-aes-128-gcm"
    flow: str | None = None
    acme_email: str = ""
    obfs: bool = False
    ws_host: str = ""
    congestion_control: str = "bbr"


def _tls_mode(spec: NewInbound, protocol: Protocol, transport: Transport) -> str:
    mode = spec.tls_mode or ("none" if protocol is Protocol.SHADOWSOCKS else "tls")
    if mode not in ("tls", "reality", "none"):
        raise ValidationError(f"tls_mode must be tls, reality or none, got {mode!r}")
    if protocol is Protocol.SHADOWSOCKS and mode != "none":
        raise ValidationError("Shadowsocks 2022 runs without TLS (tls_mode none)")
    if protocol in TLS_REQUIRED and mode != "tls":
        raise ValidationError(f"{protocol.value} needs tls_mode tls")
    if mode == "reality" and (protocol is not Protocol.VLESS or transport is not Transport.TCP):
        raise ValidationError("REALITY is for VLESS over raw TCP only")
    if mode == "reality" and not spec.sni:
        raise ValidationError("REALITY needs sni: the real site whose handshake it borrows")
    return mode


def inbound_settings(
    spec: NewInbound, protocol: Protocol, transport: Transport, node_host: str
) -> tuple[str, dict[str, Any]]:
    """(tls_mode, settings) with freshly generated secrets; raises before generating any."""
    if transport is not Transport.TCP and protocol not in TRANSPORT_CAPABLE:
        raise ValidationError(f"{protocol.value} has no {transport.value} transport")
    mode = _tls_mode(spec, protocol, transport)
    flow = spec.flow if spec.flow is not None else (VISION if mode == "reality" else "")
    if flow and (
        flow != VISION or protocol is not Protocol.VLESS or transport is not Transport.TCP
    ):
        raise ValidationError(f"flow {flow!r} needs VLESS over raw TCP and must be {VISION}")
    if protocol is Protocol.SHADOWSOCKS and spec.method not in SS2022_KEY_BYTES:
        allowed = ", ".join(sorted(SS2022_KEY_BYTES))
        raise ValidationError(f"multi-user Shadowsocks needs a 2022 method: {allowed}")
    if protocol is Protocol.TUIC and spec.congestion_control not in CONGESTION_CONTROLS:
        raise ValidationError(f"unknown congestion control {spec.congestion_control!r}")

    settings: dict[str, Any] = {}
    if spec.listen:
        settings["listen"] = spec.listen
    if flow:
        settings["flow"] = flow
    if spec.ws_host:
        settings["ws_host"] = spec.ws_host
    if mode == "reality":
        private, public = keygen.reality_keypair()
        settings.update(
            reality_private_key=private,
            reality_public_key=public,
            short_ids=keygen.short_ids(),
            handshake_server=spec.sni,
            fingerprint="chrome",
        )
    elif mode == "tls" and spec.acme_email:
        settings.update(acme_email=spec.acme_email, self_signed=False)
    elif mode == "tls":
        cert, key = keygen.self_signed_certificate(spec.sni or node_host)
        settings.update(certificate_pem=cert, key_pem=key, self_signed=True)
    if protocol is Protocol.SHADOWSOCKS:
        settings.update(method=spec.method, server_psk=keygen.ss2022_psk(spec.method))
    if protocol is Protocol.HYSTERIA2 and spec.obfs:
        settings["obfs_password"] = keygen.password()
    if protocol is Protocol.TUIC:
        settings["congestion_control"] = spec.congestion_control
    return mode, settings
