"""Share links (v2rayN / v2rayNG style), one URI per line, the whole body base64.

The default format: every mainstream mobile client imports it. Link syntax follows
v2rayN's writers (formats.md §1); SS 2022 uses the SIP002 plain form because SIP022
forbids base64 userinfo.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from vpanel_core.formats.base import (
    SS_2022_METHODS,
    SubscriptionFormat,
    sane,
    tls_of,
    vmess_cipher,
)
from vpanel_core.formats.options import FormatOptions, Selection
from vpanel_core.proxies import ClientProxy, Protocol, Transport


def _q(value: str) -> str:
    return quote(value, safe="")


def _hostport(proxy: ClientProxy) -> str:
    host = f"[{proxy.server}]" if ":" in proxy.server else proxy.server
    return f"{host}:{proxy.port}"


def _query(params: list[tuple[str, str]]) -> str:
    return "&".join(f"{k}={_q(v)}" for k, v in params if v)


def _tls_params(proxy: ClientProxy) -> list[tuple[str, str]]:
    tls = tls_of(proxy)
    if tls is None:
        return [("security", "none")]
    params = [
        ("security", "reality" if tls.is_reality else "tls"),
        ("sni", tls.server_name),
        ("fp", tls.fingerprint),
        ("alpn", ",".join(tls.alpn)),
    ]
    if tls.insecure:
        params += [("allowInsecure", "1"), ("insecure", "1")]
    if tls.is_reality:
        params += [("pbk", tls.reality_public_key), ("sid", tls.reality_short_id), ("spx", "/")]
    return params


def _transport_params(proxy: ClientProxy) -> list[tuple[str, str]]:
    params = [("type", proxy.transport.value)]
    if proxy.transport is Transport.TCP:
        params.append(("headerType", "none"))
    elif proxy.transport is Transport.GRPC:
        params += [("serviceName", proxy.service_name), ("mode", "gun")]
    else:
        params += [("host", proxy.host), ("path", proxy.path)]
    return params


def _fragment(proxy: ClientProxy) -> str:
    return "#" + _q(proxy.name)


def _vless(p: ClientProxy) -> str:
    params = [("encryption", "none"), ("flow", p.flow), *_tls_params(p), *_transport_params(p)]
    return f"vless://{_q(p.uuid)}@{_hostport(p)}?{_query(params)}{_fragment(p)}"


def _trojan(p: ClientProxy) -> str:
    params = [*_tls_params(p), *_transport_params(p)]
    return f"trojan://{_q(p.password)}@{_hostport(p)}?{_query(params)}{_fragment(p)}"


def _anytls(p: ClientProxy) -> str:
    params = [*_tls_params(p), ("type", "tcp")]
    return f"anytls://{_q(p.password)}@{_hostport(p)}?{_query(params)}{_fragment(p)}"


def _vmess(p: ClientProxy) -> str:
    tls = p.tls
    grpc = p.transport is Transport.GRPC
    body = {
        "v": "2",
        "ps": p.name,
        "add": p.server,
        "port": p.port,
        "id": p.uuid,
        "aid": 0,
        "scy": vmess_cipher(p),
        "net": p.transport.value,
        "type": "gun" if grpc else "none",
        "host": p.host,
        "path": p.service_name if grpc else p.path,
        "tls": "tls" if tls else "",
        "sni": tls.server_name if tls else "",
        "alpn": ",".join(tls.alpn) if tls else "",
        "fp": tls.fingerprint if tls else "",
    }
    if tls and tls.insecure:
        body["insecure"] = "1"
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return "vmess://" + base64.b64encode(raw.encode()).decode()


def _shadowsocks(p: ClientProxy) -> str:
    if p.method in SS_2022_METHODS:
        userinfo = f"{_q(p.method)}:{_q(p.password)}"
    else:
        raw = f"{p.method}:{p.password}".encode()
        userinfo = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return f"ss://{userinfo}@{_hostport(p)}{_fragment(p)}"


def _hysteria2(p: ClientProxy) -> str:
    tls = tls_of(p)
    params = [
        ("sni", tls.server_name if tls else ""),
        ("alpn", ",".join(tls.alpn) if tls else ""),
        ("insecure", "1" if tls and tls.insecure else "0"),
    ]
    if p.obfs_password:
        params += [("obfs", "salamander"), ("obfs-password", p.obfs_password)]
    return f"hysteria2://{_q(p.password)}@{_hostport(p)}/?{_query(params)}{_fragment(p)}"


def _tuic(p: ClientProxy) -> str:
    tls = tls_of(p)
    params = [
        ("sni", tls.server_name if tls else ""),
        ("alpn", ",".join(tls.alpn) if tls else ""),
        ("congestion_control", p.congestion_control),
        ("allow_insecure", "1" if tls and tls.insecure else "0"),
    ]
    return f"tuic://{_q(p.uuid)}:{_q(p.password)}@{_hostport(p)}?{_query(params)}{_fragment(p)}"


_WRITERS = {
    Protocol.VLESS: _vless,
    Protocol.VMESS: _vmess,
    Protocol.TROJAN: _trojan,
    Protocol.SHADOWSOCKS: _shadowsocks,
    Protocol.HYSTERIA2: _hysteria2,
    Protocol.TUIC: _tuic,
    Protocol.ANYTLS: _anytls,
}


def share_link(proxy: ClientProxy) -> str:
    """The one-line URI for `proxy` (also used by QR codes and the Shadowrocket body)."""
    return _WRITERS[proxy.protocol](proxy)


class LinksFormat(SubscriptionFormat):
    """Base64 of newline-joined share links (v2rayN, v2rayNG, Happ, Streisand…)."""

    name = "links"
    content_type = "text/plain; charset=utf-8"
    file_extension = "txt"

    def supports(self, proxy: ClientProxy) -> bool:
        return sane(proxy)

    def render(self, selection: Selection, options: FormatOptions) -> bytes:
        body = "\n".join(share_link(p) for p in selection.proxies)
        return base64.b64encode(body.encode())
