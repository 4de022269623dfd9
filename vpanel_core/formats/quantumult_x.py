"""Quantumult X `[server_remote]` resource: one `type=host:port, key=value, …, tag=` per line.

VMess/Trojan/SS follow the official sample.conf; VLESS follows Xboard's output (the only
source). SS 2022, Hysteria2, TUIC and AnyTLS have no documented line syntax: skipped.
"""

from __future__ import annotations

from vpanel_core.formats.base import (
    SS_AEAD_METHODS,
    SubscriptionFormat,
    line_safe,
    sane,
    skipped_comments,
)
from vpanel_core.formats.options import FormatOptions, Selection
from vpanel_core.proxies import ClientProxy, Protocol, Transport

_VMESS_METHODS = {
    "auto": "chacha20-poly1305",
    "chacha20-poly1305": "chacha20-poly1305",
    "aes-128-gcm": "aes-128-gcm",
    "none": "none",
}


def _obfs_keys(p: ClientProxy) -> list[str]:
    tls = p.tls
    keys: list[str] = []
    if p.transport is Transport.WS:
        keys += [
            f"obfs={'wss' if tls else 'ws'}",
            f"obfs-host={p.host or p.server}",
            f"obfs-uri={p.path or '/'}",
        ]
    elif tls is not None and p.protocol is Protocol.TROJAN:
        keys.append("over-tls=true")
    elif tls is not None:
        keys.append("obfs=over-tls")
    if tls is not None:
        if tls.server_name and p.transport is not Transport.WS:
            keys.append(
                f"{'tls-host' if p.protocol is Protocol.TROJAN else 'obfs-host'}={tls.server_name}"
            )
        keys.append(f"tls-verification={'false' if tls.insecure else 'true'}")
        if tls.is_reality:
            keys += [
                f"reality-base64-pubkey={tls.reality_public_key}",
                f"reality-hex-shortid={tls.reality_short_id}",
            ]
    return keys


def server_line(p: ClientProxy) -> str:
    target = f"{p.server}:{p.port}"
    if p.protocol is Protocol.SHADOWSOCKS:
        keys = [f"shadowsocks={target}", f"method={p.method}", f"password={p.password}"]
    elif p.protocol is Protocol.TROJAN:
        keys = [f"trojan={target}", f"password={p.password}"]
    else:
        kind = "vmess" if p.protocol is Protocol.VMESS else "vless"
        method = _VMESS_METHODS[p.method or "auto"] if kind == "vmess" else "none"
        keys = [f"{kind}={target}", f"method={method}", f"password={p.uuid}"]
        if p.flow:
            keys.append(f"vless-flow={p.flow}")
    keys += _obfs_keys(p)
    keys += ["fast-open=false", f"udp-relay={'true' if p.udp else 'false'}", f"tag={p.name}"]
    return ", ".join(keys)


class QuantumultXFormat(SubscriptionFormat):
    name = "quantumult_x"
    content_type = "text/plain; charset=utf-8"
    file_extension = "conf"

    def supports(self, proxy: ClientProxy) -> bool:
        if not sane(proxy) or proxy.transport not in (Transport.TCP, Transport.WS):
            return False
        if proxy.protocol is Protocol.SHADOWSOCKS:
            return proxy.method in SS_AEAD_METHODS
        if proxy.protocol is Protocol.VMESS:
            return (proxy.method or "auto") in _VMESS_METHODS
        return proxy.protocol in (Protocol.VLESS, Protocol.TROJAN)

    def clean_name(self, name: str) -> str:
        return line_safe(name)

    def render(self, selection: Selection, options: FormatOptions) -> bytes:
        lines = skipped_comments(selection, self.name)
        lines += [server_line(p) for p in selection.proxies]
        return "".join(line + "\n" for line in lines).encode()
