"""Loon node list: `Name=Type,host,port,<credentials>,key=value…`, CRLF lines (Xboard's Loon.php;
Loon's own manual was not available, so only the forms seen there are emitted)."""

from __future__ import annotations

from vpanel_core.formats.base import (
    SS_AEAD_METHODS,
    SubscriptionFormat,
    line_safe,
    sane,
    skipped_comments,
    tls_of,
    vmess_cipher,
)
from vpanel_core.formats.options import FormatOptions, Selection
from vpanel_core.proxies import ClientProxy, Protocol, Transport

_TYPES = {
    Protocol.SHADOWSOCKS: "Shadowsocks",
    Protocol.VMESS: "vmess",
    Protocol.VLESS: "VLESS",
    Protocol.TROJAN: "trojan",
    Protocol.HYSTERIA2: "Hysteria2",
    Protocol.ANYTLS: "anytls",
}


def _transport_keys(p: ClientProxy) -> list[str]:
    if p.protocol not in (Protocol.VMESS, Protocol.VLESS, Protocol.TROJAN):
        return []
    keys = [f"transport={p.transport.value}"]
    if p.transport is Transport.GRPC:
        keys.append(f"grpc-service-name={p.service_name}")
    elif p.transport is not Transport.TCP:
        keys.append(f"path={p.path or '/'}")
        if p.host:
            keys.append(f"host={p.host}")
    return keys


def _tls_keys(p: ClientProxy) -> list[str]:
    tls = tls_of(p)
    if tls is None:
        return []
    keys = ["over-tls=true"] if p.protocol in (Protocol.VMESS, Protocol.VLESS) else []
    sni_key = "tls-name" if p.protocol in (Protocol.VMESS, Protocol.TROJAN) else "sni"
    if tls.server_name:
        keys.append(f"{sni_key}={tls.server_name}")
    if tls.is_reality:
        keys += [f"public-key={tls.reality_public_key}", f"short-id={tls.reality_short_id}"]
    keys.append(f"skip-cert-verify={'true' if tls.insecure else 'false'}")
    return keys


def node_line(p: ClientProxy) -> str:
    fields = [_TYPES[p.protocol], p.server, str(p.port)]
    if p.protocol is Protocol.SHADOWSOCKS:
        fields += [p.method, p.password]
    elif p.protocol is Protocol.VMESS:
        fields += [vmess_cipher(p), p.uuid]
    elif p.protocol is Protocol.VLESS:
        fields.append(p.uuid)
    else:
        fields.append(p.password)
    fields += _transport_keys(p)
    if p.flow:
        fields.append(f"flow={p.flow}")
    fields += _tls_keys(p)
    if p.protocol is Protocol.VMESS:
        fields.append("alterId=0")
    fields.append(f"udp={'true' if p.udp else 'false'}")
    return f"{p.name}=" + ",".join(fields)


class LoonFormat(SubscriptionFormat):
    name = "loon"
    content_type = "text/plain; charset=utf-8"
    file_extension = "conf"

    def supports(self, proxy: ClientProxy) -> bool:
        if not sane(proxy) or proxy.protocol not in _TYPES:
            return False
        if proxy.protocol is Protocol.SHADOWSOCKS:
            return proxy.method in SS_AEAD_METHODS
        if proxy.protocol is Protocol.HYSTERIA2:
            return not proxy.obfs_password  # Loon's obfs key is undocumented here
        return True

    def clean_name(self, name: str) -> str:
        return line_safe(name)

    def render(self, selection: Selection, options: FormatOptions) -> bytes:
        lines = skipped_comments(selection, self.name)
        lines += [node_line(p) for p in selection.proxies]
        return "".join(line + "\r\n" for line in lines).encode()
