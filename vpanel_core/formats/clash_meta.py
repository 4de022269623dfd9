"""Clash Meta (mihomo) YAML: every protocol, a select group and a url-test group.

`clash.py` and `stash.py` reuse the proxy mapping and the document builder: both are
Clash dialects that differ in a handful of keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vpanel_core.formats.base import (
    SubscriptionFormat,
    sane,
    skipped_comments,
    tls_of,
    vmess_cipher,
)
from vpanel_core.formats.options import FormatOptions, Selection
from vpanel_core.formats.yaml_text import dump_yaml
from vpanel_core.proxies import ClientProxy, Protocol, Transport

PROXY_GROUP = "PROXY"
AUTO_GROUP = "AUTO"
TEST_URL = "https://www.gstatic.com/generate_204"
# Private ranges go direct without geodata, so a fresh client needs no downloads.
PRIVATE_CIDRS = ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")


_TYPES = {
    Protocol.VLESS: "vless",
    Protocol.VMESS: "vmess",
    Protocol.TROJAN: "trojan",
    Protocol.SHADOWSOCKS: "ss",
    Protocol.HYSTERIA2: "hysteria2",
    Protocol.TUIC: "tuic",
    Protocol.ANYTLS: "anytls",
}
# vmess and vless name the SNI `servername`; everything else `sni` (Meta-Docs tls.md).
_SERVERNAME_KEY = {Protocol.VLESS: "servername", Protocol.VMESS: "servername"}


def _tls_fields(p: ClientProxy) -> dict[str, Any]:
    tls = tls_of(p)
    if tls is None:
        return {}
    fields: dict[str, Any] = {}
    if p.protocol in (Protocol.VLESS, Protocol.VMESS, Protocol.TROJAN):
        fields["tls"] = True
    if tls.server_name:
        fields[_SERVERNAME_KEY.get(p.protocol, "sni")] = tls.server_name
    if tls.alpn:
        fields["alpn"] = list(tls.alpn)
    if tls.insecure:
        fields["skip-cert-verify"] = True
    if tls.fingerprint:
        fields["client-fingerprint"] = tls.fingerprint
    if tls.is_reality:
        fields["reality-opts"] = {
            "public-key": tls.reality_public_key,
            "short-id": tls.reality_short_id,
        }
    return fields


def _transport_fields(p: ClientProxy) -> dict[str, Any]:
    if p.transport is Transport.TCP:
        return {"network": "tcp"} if p.protocol is not Protocol.TROJAN else {}
    if p.transport is Transport.GRPC:
        return {"network": "grpc", "grpc-opts": {"grpc-service-name": p.service_name}}
    opts: dict[str, Any] = {"path": p.path or "/"}
    if p.host:
        opts["headers"] = {"Host": p.host}
    if p.transport is Transport.HTTPUPGRADE:
        opts["v2ray-http-upgrade"] = True
    return {"network": "ws", "ws-opts": opts}


def mihomo_proxy(p: ClientProxy) -> dict[str, Any]:
    """One `proxies:` entry in mihomo syntax."""
    d: dict[str, Any] = {
        "name": p.name,
        "type": _TYPES[p.protocol],
        "server": p.server,
        "port": p.port,
        "udp": p.udp,
    }
    if p.protocol is Protocol.VLESS:
        d["uuid"] = p.uuid
        if p.flow:
            d["flow"] = p.flow
    elif p.protocol is Protocol.VMESS:
        d.update(uuid=p.uuid, alterId=0, cipher=vmess_cipher(p))
    elif p.protocol is Protocol.SHADOWSOCKS:
        d.update(cipher=p.method, password=p.password)
    elif p.protocol is Protocol.TUIC:
        d.update(
            uuid=p.uuid,
            password=p.password,
            **{"congestion-controller": p.congestion_control, "udp-relay-mode": "native"},
        )
    else:
        d["password"] = p.password
    if p.protocol is Protocol.HYSTERIA2 and p.obfs_password:
        d.update({"obfs": "salamander", "obfs-password": p.obfs_password})
    d.update(_tls_fields(p))
    if p.protocol in (Protocol.VLESS, Protocol.VMESS, Protocol.TROJAN):
        d.update(_transport_fields(p))
    return d


def clash_document(
    entries: Sequence[dict[str, Any]], selection: Selection, options: FormatOptions, fmt: str
) -> bytes:
    """The full profile: proxies, PROXY (select) and AUTO (url-test) groups, rules."""
    names = [e["name"] for e in entries]
    groups: list[dict[str, Any]] = [
        {"name": PROXY_GROUP, "type": "select", "proxies": [AUTO_GROUP, *names, "DIRECT"]},
        {
            "name": AUTO_GROUP,
            "type": "url-test",
            "proxies": names,
            "url": TEST_URL,
            "interval": 300,
            "tolerance": 50,
        },
    ]
    if not names:  # an empty url-test group is invalid
        groups = [{"name": PROXY_GROUP, "type": "select", "proxies": ["DIRECT"]}]
    doc = {
        "mixed-port": 7890,
        "allow-lan": False,
        "mode": "rule",
        "log-level": "info",
        "proxies": list(entries),
        "proxy-groups": groups,
        "rules": [f"IP-CIDR,{cidr},DIRECT,no-resolve" for cidr in PRIVATE_CIDRS]
        + [f"MATCH,{PROXY_GROUP}"],
    }
    header = skipped_comments(selection, fmt)
    if options.user is not None:  # Clash for Windows reads this first line
        u = options.user
        expire = int(u.expire.timestamp()) if u.expire else 0
        header.insert(
            0,
            f"# upload={u.upload}; download={u.download}; total={u.total or 0}; expire={expire};",
        )
    body = dump_yaml(doc)
    return ("".join(line + "\n" for line in header) + body).encode()


class ClashMetaFormat(SubscriptionFormat):
    name = "clash_meta"
    content_type = "text/yaml; charset=utf-8"
    file_extension = "yaml"
    reserved_names = frozenset({PROXY_GROUP, AUTO_GROUP, "DIRECT", "REJECT", "GLOBAL"})

    def supports(self, proxy: ClientProxy) -> bool:
        return sane(proxy)

    def render(self, selection: Selection, options: FormatOptions) -> bytes:
        entries = [mihomo_proxy(p) for p in selection.proxies]
        return clash_document(entries, selection, options, self.name)
