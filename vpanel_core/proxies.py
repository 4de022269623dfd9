"""Client-facing proxy descriptions: the one shape every subscription format consumes.

A `ClientProxy` is what a client needs to connect to one inbound as one user. The
node/inbound layer produces them; `vpanel_core.formats` renders them. Keeping this
shape independent of the database lets the format engine be tested and benchmarked
on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Protocol(StrEnum):
    VLESS = "vless"
    VMESS = "vmess"
    TROJAN = "trojan"
    SHADOWSOCKS = "shadowsocks"
    HYSTERIA2 = "hysteria2"
    TUIC = "tuic"
    ANYTLS = "anytls"


class Transport(StrEnum):
    TCP = "tcp"
    WS = "ws"
    GRPC = "grpc"
    HTTPUPGRADE = "httpupgrade"


@dataclass(frozen=True, slots=True)
class Tls:
    """TLS as the client sees it; `reality_public_key` set means REALITY."""

    server_name: str = ""
    insecure: bool = False
    alpn: tuple[str, ...] = ()
    fingerprint: str = ""
    reality_public_key: str = ""
    reality_short_id: str = ""

    @property
    def is_reality(self) -> bool:
        return bool(self.reality_public_key)


@dataclass(frozen=True, slots=True)
class ClientProxy:
    """One connectable endpoint for one user.

    `password` carries the per-user secret for trojan / shadowsocks / hysteria2 /
    tuic / anytls; `uuid` for vless / vmess / tuic. For Shadowsocks 2022 multi-user,
    `password` is already the combined `server_psk:user_psk`.
    """

    id: str
    name: str
    protocol: Protocol
    server: str
    port: int
    uuid: str = ""
    password: str = ""
    method: str = ""
    flow: str = ""
    transport: Transport = Transport.TCP
    path: str = ""
    host: str = ""
    service_name: str = ""
    tls: Tls | None = None
    obfs_password: str = ""
    congestion_control: str = "bbr"
    country: str = ""
    enabled: bool = True
    udp: bool = True
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
