"""sing-box client config (1.12+ syntax, checked against 1.14): typed DNS servers, rule
actions, `route.default_domain_resolver`, a selector over a urltest group."""

from __future__ import annotations

import json
from typing import Any

from vpanel_core.formats.base import SubscriptionFormat, sane, tls_of, vmess_cipher
from vpanel_core.formats.options import FormatOptions, Selection
from vpanel_core.proxies import ClientProxy, Protocol, Transport

SELECTOR = "proxy"
URLTEST = "auto"
DIRECT = "direct"
TEST_URL = "https://www.gstatic.com/generate_204"


def _tls(p: ClientProxy) -> dict[str, Any] | None:
    tls = tls_of(p)
    if tls is None:
        return None
    block: dict[str, Any] = {"enabled": True}
    if tls.server_name:
        block["server_name"] = tls.server_name
    if tls.insecure:
        block["insecure"] = True
    if tls.alpn:
        block["alpn"] = list(tls.alpn)
    if tls.fingerprint or tls.is_reality:  # REALITY needs uTLS
        block["utls"] = {"enabled": True, "fingerprint": tls.fingerprint or "chrome"}
    if tls.is_reality:
        block["reality"] = {
            "enabled": True,
            "public_key": tls.reality_public_key,
            "short_id": tls.reality_short_id,
        }
    return block


def _transport(p: ClientProxy) -> dict[str, Any] | None:
    if p.transport is Transport.TCP:
        return None
    if p.transport is Transport.GRPC:
        return {"type": "grpc", "service_name": p.service_name}
    block: dict[str, Any] = {"type": p.transport.value, "path": p.path or "/"}
    if p.host:
        if p.transport is Transport.WS:
            block["headers"] = {"Host": p.host}
        else:
            block["host"] = p.host
    return block


def outbound(p: ClientProxy) -> dict[str, Any]:
    """One sing-box outbound for `p`, tagged with its display name."""
    d: dict[str, Any] = {
        "type": p.protocol.value,
        "tag": p.name,
        "server": p.server,
        "server_port": p.port,
    }
    if p.protocol is Protocol.VLESS:
        d["uuid"] = p.uuid
        if p.flow:
            d["flow"] = p.flow
    elif p.protocol is Protocol.VMESS:
        d.update(uuid=p.uuid, security=vmess_cipher(p), alter_id=0)
    elif p.protocol is Protocol.SHADOWSOCKS:
        d.update(method=p.method, password=p.password)
    elif p.protocol is Protocol.TUIC:
        d.update(uuid=p.uuid, password=p.password, congestion_control=p.congestion_control)
    else:
        d["password"] = p.password
    if p.protocol is Protocol.HYSTERIA2 and p.obfs_password:
        d["obfs"] = {"type": "salamander", "password": p.obfs_password}
    if not p.udp and p.protocol in (Protocol.VLESS, Protocol.VMESS, Protocol.SHADOWSOCKS):
        d["network"] = "tcp"
    tls = _tls(p)
    if tls is not None:
        d["tls"] = tls
    transport = _transport(p)
    if transport is not None:
        d["transport"] = transport
    return d


def config(selection: Selection) -> dict[str, Any]:
    """A complete client config: TUN + local mixed inbound, groups, DNS and routing."""
    tags = [p.name for p in selection.proxies]
    groups: list[dict[str, Any]] = [
        {
            "type": "selector",
            "tag": SELECTOR,
            "outbounds": [URLTEST, *tags, DIRECT],
            "default": URLTEST,
        },
        {
            "type": "urltest",
            "tag": URLTEST,
            "outbounds": tags,
            "url": TEST_URL,
            "interval": "3m",
            "tolerance": 50,
        },
    ]
    if not tags:  # urltest needs members
        groups = [{"type": "selector", "tag": SELECTOR, "outbounds": [DIRECT]}]
    return {
        "log": {"level": "warn"},
        "dns": {
            "servers": [
                {"type": "https", "tag": "remote", "server": "1.1.1.1", "detour": SELECTOR},
                {"type": "local", "tag": "local"},
            ],
            "final": "remote",
        },
        "inbounds": [
            {
                "type": "tun",
                "tag": "tun-in",
                "address": ["172.19.0.1/30"],
                "auto_route": True,
                "strict_route": True,
            },
            {"type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1", "listen_port": 2080},
        ],
        "outbounds": [
            *groups,
            *(outbound(p) for p in selection.proxies),
            {"type": "direct", "tag": DIRECT},
        ],
        "route": {
            "rules": [
                {"action": "sniff"},
                {"protocol": "dns", "action": "hijack-dns"},
                {"ip_is_private": True, "outbound": DIRECT},
            ],
            "final": SELECTOR,
            "auto_detect_interface": True,
            "default_domain_resolver": "local",
        },
    }


class SingBoxFormat(SubscriptionFormat):
    name = "sing_box"
    content_type = "application/json; charset=utf-8"
    file_extension = "json"
    reserved_names = frozenset({SELECTOR, URLTEST, DIRECT})

    def supports(self, proxy: ClientProxy) -> bool:
        return sane(proxy)

    def render(self, selection: Selection, options: FormatOptions) -> bytes:
        return json.dumps(config(selection), ensure_ascii=False, indent=2).encode()
