"""Surge managed profile: `[Proxy]` lines, select + url-test groups, `FINAL` rule.

Follows manual.nssurge.com: `tuic-v5` for TUIC v5, `vmess-aead=true` (Surge defaults to
legacy VMess), VLESS only in the transport/security combinations the manual lists.
"""

from __future__ import annotations

from vpanel_core.formats.base import SubscriptionFormat, line_safe, sane, skipped_comments, tls_of
from vpanel_core.formats.options import FormatOptions, Selection
from vpanel_core.proxies import ClientProxy, Protocol, Transport

PROXY_GROUP = "Proxy"
AUTO_GROUP = "Auto"
TEST_URL = "http://www.gstatic.com/generate_204"
PRIVATE_CIDRS = ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
_VMESS_METHODS = {"auto": "", "aes-128-gcm": "", "chacha20-poly1305": "chacha20-ietf-poly1305"}


def _tls_keys(p: ClientProxy) -> list[str]:
    tls = tls_of(p)
    if tls is None:
        return []
    keys = ["tls=true"] if p.protocol in (Protocol.VLESS, Protocol.VMESS) else []
    if tls.server_name:
        keys.append(f"sni={tls.server_name}")
    if tls.insecure:
        keys.append("skip-cert-verify=true")
    if tls.is_reality:
        keys += [
            f"reality-public-key={tls.reality_public_key}",
            f"reality-short-id={tls.reality_short_id}",
        ]
    return keys


def _transport_keys(p: ClientProxy) -> list[str]:
    if p.transport is Transport.WS:
        keys = ["ws=true", f"ws-path={p.path or '/'}"]
        return keys + ([f"ws-headers=Host:{p.host}"] if p.host else [])
    if p.transport is Transport.GRPC:
        return ["grpc=true", f"grpc-service-name={p.service_name}"]
    return []


def proxy_line(p: ClientProxy) -> str:
    head = {
        Protocol.SHADOWSOCKS: "ss",
        Protocol.TUIC: "tuic-v5",
    }.get(p.protocol, p.protocol.value)
    keys: list[str] = []
    if p.protocol is Protocol.SHADOWSOCKS:
        keys += [f"encrypt-method={p.method}", f"password={p.password}"]
    elif p.protocol is Protocol.VMESS:
        keys += [f"username={p.uuid}", "vmess-aead=true"]
        if method := _VMESS_METHODS[p.method or "auto"]:
            keys.append(f"encrypt-method={method}")
    elif p.protocol is Protocol.VLESS:
        keys.append(f"username={p.uuid}")
        if p.flow:
            keys.append(f"flow={p.flow}")
    elif p.protocol is Protocol.TUIC:
        keys += [f"uuid={p.uuid}", f"password={p.password}", "alpn=h3"]
    else:
        keys.append(f"password={p.password}")
    if p.protocol is Protocol.HYSTERIA2 and p.obfs_password:
        keys.append(f"salamander-password={p.obfs_password}")
    keys += _tls_keys(p) + _transport_keys(p)
    if p.udp:
        keys.append("udp-relay=true")
    return f"{p.name} = {head}, {p.server}, {p.port}, " + ", ".join(keys)


class SurgeFormat(SubscriptionFormat):
    name = "surge"
    content_type = "text/plain; charset=utf-8"
    file_extension = "conf"
    reserved_names = frozenset({PROXY_GROUP, AUTO_GROUP, "DIRECT", "REJECT"})

    def supports(self, proxy: ClientProxy) -> bool:
        if not sane(proxy) or proxy.transport is Transport.HTTPUPGRADE:
            return False
        tls = proxy.tls
        if proxy.protocol is Protocol.VLESS and proxy.transport is not Transport.TCP:
            reality = tls is not None and tls.is_reality
            # manual: WS with none/TLS, gRPC with TLS/REALITY
            return not reality if proxy.transport is Transport.WS else tls is not None
        if proxy.protocol is Protocol.VMESS:
            method = proxy.method or "auto"
            return proxy.transport is not Transport.GRPC and method in _VMESS_METHODS
        if proxy.protocol is Protocol.TROJAN:
            return proxy.transport is not Transport.GRPC
        return True

    def clean_name(self, name: str) -> str:
        return line_safe(name)

    def render(self, selection: Selection, options: FormatOptions) -> bytes:
        names = [p.name for p in selection.proxies]
        lines: list[str] = []
        if options.subscription_url:
            lines.append(f"#!MANAGED-CONFIG {options.subscription_url} interval=86400 strict=false")
        lines += skipped_comments(selection, self.name)
        lines += [
            "[General]",
            "loglevel = notify",
            "dns-server = system",
            "",
            "[Proxy]",
            *(proxy_line(p) for p in selection.proxies),
            "",
            "[Proxy Group]",
        ]
        if names:
            lines += [
                f"{PROXY_GROUP} = select, {AUTO_GROUP}, {', '.join(names)}, DIRECT",
                f"{AUTO_GROUP} = url-test, {', '.join(names)}, url={TEST_URL}, interval=600",
            ]
        else:
            lines.append(f"{PROXY_GROUP} = select, DIRECT")
        lines += [
            "",
            "[Rule]",
            *(f"IP-CIDR,{c},DIRECT,no-resolve" for c in PRIVATE_CIDRS),
            f"FINAL,{PROXY_GROUP},dns-failed",
            "",
        ]
        return "\n".join(lines).encode()
