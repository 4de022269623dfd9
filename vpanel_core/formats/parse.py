"""Parsers back to `ClientProxy`: share links, Clash Meta YAML, sing-box JSON.

They accept what our generators write plus the common variants other panels emit
(base64 SS userinfo, string-typed VMess JSON, `hy2://`), so they double as importers.
A parsed proxy's `id` is its name: these formats carry no other stable key.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import yaml

from vpanel_core.formats.errors import ParseError
from vpanel_core.proxies import ClientProxy, Protocol, Tls, Transport

_TRUE = frozenset({"1", "true", "True"})


def _b64decode(text: str) -> bytes:
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ParseError(f"not base64: {text[:40]!r}") from exc


def _split_hostport(hostport: str, default_port: int | None = None) -> tuple[str, int]:
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, sep, port_text = hostport.rpartition(":")
        if not sep:
            host, port_text = hostport, ""
    if not port_text and default_port is not None:
        return host, default_port
    try:
        return host, int(port_text)
    except ValueError as exc:
        raise ParseError(f"bad port in {hostport!r}") from exc


def _query(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in text.split("&"):
        if part:
            key, _, value = part.partition("=")
            params[unquote(key)] = unquote(value)
    return params


def _alpn(value: str) -> tuple[str, ...]:
    return tuple(a for a in value.split(",") if a)


def _link_tls(q: Mapping[str, str], default: str = "none") -> Tls | None:
    security = q.get("security", default)
    if security not in ("tls", "reality"):
        return None
    return Tls(
        server_name=q.get("sni") or q.get("peer", ""),
        insecure=q.get("allowInsecure", q.get("insecure", "0")) in _TRUE,
        alpn=_alpn(q.get("alpn", "")),
        fingerprint=q.get("fp", ""),
        reality_public_key=q.get("pbk", "") if security == "reality" else "",
        reality_short_id=q.get("sid", "") if security == "reality" else "",
    )


def _link_transport(q: Mapping[str, str]) -> dict[str, Any]:
    kind = q.get("type", "tcp")
    transport = Transport.TCP if kind == "raw" else _enum(Transport, kind)
    if transport is Transport.GRPC:
        return {"transport": transport, "service_name": q.get("serviceName", "")}
    if transport is Transport.TCP:
        return {"transport": transport}
    return {"transport": transport, "host": q.get("host", ""), "path": q.get("path", "")}


def _enum(kind: type[Transport], value: str) -> Transport:
    try:
        return kind(value)
    except ValueError as exc:
        raise ParseError(f"unsupported transport {value!r}") from exc


def _uri_parts(link: str) -> tuple[str, str, str, dict[str, str], str]:
    """scheme, userinfo (raw), host:port, query, name."""
    scheme, _, rest = link.partition("://")
    rest, _, fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    userinfo, _, hostport = rest.rpartition("@")
    return scheme.lower(), userinfo, hostport.rstrip("/"), _query(query), unquote(fragment)


def _vmess(body: str) -> ClientProxy:
    if "@" in body.partition("?")[0]:
        raise ParseError("the 'standard' vmess://uuid@host form is not supported")
    try:
        d = json.loads(_b64decode(body.partition("#")[0]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError("vmess:// payload is not JSON") from exc
    net = str(d.get("net") or "tcp")
    transport = _enum(Transport, "tcp" if net == "raw" else net)
    tls = None
    if d.get("tls") == "tls":
        tls = Tls(
            server_name=str(d.get("sni", "")),
            insecure=str(d.get("insecure", "0")) in _TRUE,
            alpn=_alpn(str(d.get("alpn", ""))),
            fingerprint=str(d.get("fp", "")),
        )
    grpc = transport is Transport.GRPC
    name = str(d.get("ps", ""))
    return ClientProxy(
        id=name,
        name=name,
        protocol=Protocol.VMESS,
        server=str(d["add"]),
        port=int(d["port"]),
        uuid=str(d["id"]),
        method=str(d.get("scy") or "auto"),
        transport=transport,
        host=str(d.get("host", "")) if not grpc else "",
        path=str(d.get("path", "")) if not grpc else "",
        service_name=str(d.get("path", "")) if grpc else "",
        tls=tls,
    )


def _shadowsocks(link: str) -> ClientProxy:
    _, userinfo, hostport, _, name = _uri_parts(link)
    if not userinfo:  # legacy ss://base64(method:password@host:port)
        userinfo, _, hostport = _b64decode(hostport).decode().rpartition("@")
        method, _, password = userinfo.partition(":")
    elif ":" in userinfo:  # SIP002 plain, each part percent-encoded
        raw_method, _, raw_password = userinfo.partition(":")
        method, password = unquote(raw_method), unquote(raw_password)
    elif "%3A" in userinfo.upper():  # plain, encoded as a whole
        method, _, password = unquote(userinfo).partition(":")
    else:
        method, _, password = _b64decode(unquote(userinfo)).decode().partition(":")
    server, port = _split_hostport(hostport)
    return ClientProxy(
        id=name,
        name=name,
        protocol=Protocol.SHADOWSOCKS,
        server=server,
        port=port,
        method=method,
        password=password,
    )


def parse_link(link: str) -> ClientProxy:
    """One share link -> `ClientProxy`; raises `ParseError` for anything else."""
    link = link.strip()
    scheme = link.partition("://")[0].lower()
    if scheme == "vmess":
        return _vmess(link.partition("://")[2])
    if scheme == "ss":
        return _shadowsocks(link)
    scheme, userinfo, hostport, q, name = _uri_parts(link)
    common: dict[str, Any] = {"id": name, "name": name}
    if scheme in ("hysteria2", "hy2"):
        server, port = _split_hostport(hostport.split(",")[0], default_port=443)
        return ClientProxy(
            **common,
            protocol=Protocol.HYSTERIA2,
            server=server,
            port=port,
            password=unquote(userinfo),
            obfs_password=q.get("obfs-password", ""),
            tls=Tls(
                server_name=q.get("sni", ""),
                insecure=q.get("insecure", "0") in _TRUE,
                alpn=_alpn(q.get("alpn", "")),
            ),
        )
    server, port = _split_hostport(hostport)
    if scheme == "tuic":
        uuid, _, password = unquote(userinfo).partition(":")
        return ClientProxy(
            **common,
            protocol=Protocol.TUIC,
            server=server,
            port=port,
            uuid=uuid or q.get("uuid", ""),
            password=password or q.get("password", ""),
            congestion_control=q.get("congestion_control", "bbr"),
            tls=Tls(
                server_name=q.get("sni", ""),
                insecure=q.get("allow_insecure", q.get("insecure", "0")) in _TRUE,
                alpn=_alpn(q.get("alpn", "")),
            ),
        )
    if scheme == "vless":
        return ClientProxy(
            **common,
            protocol=Protocol.VLESS,
            server=server,
            port=port,
            uuid=unquote(userinfo),
            flow=q.get("flow", ""),
            tls=_link_tls(q),
            **_link_transport(q),
        )
    if scheme in ("trojan", "anytls"):
        protocol = Protocol.TROJAN if scheme == "trojan" else Protocol.ANYTLS
        return ClientProxy(
            **common,
            protocol=protocol,
            server=server,
            port=port,
            password=unquote(userinfo),
            tls=_link_tls(q, default="tls") or Tls(),
            **_link_transport(q),
        )
    raise ParseError(f"unsupported link scheme {scheme!r}")


def parse_links(body: str | bytes) -> list[ClientProxy]:
    """A subscription body (base64 or plain), skipping blank, `#` and `STATUS=` lines."""
    text = body.decode() if isinstance(body, bytes) else body
    if "://" not in text:
        text = _b64decode("".join(text.split())).decode()
    return [
        parse_link(line)
        for line in text.splitlines()
        if line.strip() and not line.startswith(("#", "STATUS="))
    ]


# --- Clash Meta -----------------------------------------------------------------------

_MIHOMO_TYPES = {
    "vless": Protocol.VLESS,
    "vmess": Protocol.VMESS,
    "trojan": Protocol.TROJAN,
    "ss": Protocol.SHADOWSOCKS,
    "hysteria2": Protocol.HYSTERIA2,
    "tuic": Protocol.TUIC,
    "anytls": Protocol.ANYTLS,
}


def _mihomo_tls(d: Mapping[str, Any], protocol: Protocol) -> Tls | None:
    always = protocol not in (Protocol.VLESS, Protocol.VMESS, Protocol.SHADOWSOCKS)
    if not (always or d.get("tls")):
        return None
    reality = d.get("reality-opts") or {}
    return Tls(
        server_name=str(d.get("servername") or d.get("sni") or ""),
        insecure=bool(d.get("skip-cert-verify", False)),
        alpn=tuple(str(a) for a in d.get("alpn") or ()),
        fingerprint=str(d.get("client-fingerprint", "")),
        reality_public_key=str(reality.get("public-key", "")),
        reality_short_id=str(reality.get("short-id", "")),
    )


def _mihomo_transport(d: Mapping[str, Any]) -> dict[str, Any]:
    network = d.get("network", "tcp")
    if network == "grpc":
        opts = d.get("grpc-opts") or {}
        return {"transport": Transport.GRPC, "service_name": str(opts.get("grpc-service-name", ""))}
    if network == "ws":
        opts = d.get("ws-opts") or {}
        upgrade = bool(opts.get("v2ray-http-upgrade"))
        return {
            "transport": Transport.HTTPUPGRADE if upgrade else Transport.WS,
            "path": str(opts.get("path", "")),
            "host": str((opts.get("headers") or {}).get("Host", "")),
        }
    if network != "tcp":
        raise ParseError(f"unsupported network {network!r}")
    return {"transport": Transport.TCP}


def mihomo_to_proxy(d: Mapping[str, Any]) -> ClientProxy:
    protocol = _MIHOMO_TYPES.get(str(d.get("type")))
    if protocol is None:
        raise ParseError(f"unsupported proxy type {d.get('type')!r}")
    name = str(d["name"])
    fields: dict[str, Any] = {
        "id": name,
        "name": name,
        "protocol": protocol,
        "server": str(d["server"]),
        "port": int(d["port"]),
        "udp": bool(d.get("udp", True)),
        "uuid": str(d.get("uuid", "")),
        "password": str(d.get("password") or d.get("auth") or ""),
        "flow": str(d.get("flow", "")),
        "tls": _mihomo_tls(d, protocol),
        "obfs_password": str(d.get("obfs-password", "")),
    }
    if protocol is Protocol.SHADOWSOCKS:
        fields["method"] = str(d["cipher"])
    elif protocol is Protocol.VMESS:
        fields["method"] = str(d.get("cipher", "auto"))
    elif protocol is Protocol.TUIC:
        fields["congestion_control"] = str(d.get("congestion-controller", "bbr"))
    if protocol in (Protocol.VLESS, Protocol.VMESS, Protocol.TROJAN):
        fields.update(_mihomo_transport(d))
    return ClientProxy(**fields)


def parse_clash_meta(text: str | bytes) -> list[ClientProxy]:
    """The `proxies:` of a Clash / Clash Meta / Stash profile."""
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("proxies"), list):
        raise ParseError("not a Clash profile: no 'proxies' list")
    return [mihomo_to_proxy(d) for d in doc["proxies"]]


# --- sing-box -------------------------------------------------------------------------


def _sing_box_tls(d: Mapping[str, Any]) -> Tls | None:
    tls = d.get("tls") or {}
    if not tls.get("enabled"):
        return None
    reality = tls.get("reality") or {}
    utls = tls.get("utls") or {}
    return Tls(
        server_name=str(tls.get("server_name", "")),
        insecure=bool(tls.get("insecure", False)),
        alpn=tuple(str(a) for a in tls.get("alpn") or ()),
        fingerprint=str(utls.get("fingerprint", "")) if utls.get("enabled") else "",
        reality_public_key=str(reality.get("public_key", "")) if reality.get("enabled") else "",
        reality_short_id=str(reality.get("short_id", "")) if reality.get("enabled") else "",
    )


def _sing_box_transport(d: Mapping[str, Any]) -> dict[str, Any]:
    t = d.get("transport")
    if not t:
        return {"transport": Transport.TCP}
    transport = _enum(Transport, str(t.get("type")))
    if transport is Transport.GRPC:
        return {"transport": transport, "service_name": str(t.get("service_name", ""))}
    host = (t.get("headers") or {}).get("Host", "") if transport is Transport.WS else t.get("host")
    return {"transport": transport, "path": str(t.get("path", "")), "host": str(host or "")}


def sing_box_to_proxy(d: Mapping[str, Any]) -> ClientProxy:
    try:
        protocol = Protocol(str(d.get("type")))
    except ValueError as exc:
        raise ParseError(f"unsupported outbound type {d.get('type')!r}") from exc
    tag = str(d.get("tag", ""))
    obfs = d.get("obfs") or {}
    fields: dict[str, Any] = {
        "id": tag,
        "name": tag,
        "protocol": protocol,
        "server": str(d["server"]),
        "port": int(d["server_port"]),
        "uuid": str(d.get("uuid", "")),
        "password": str(d.get("password", "")),
        "flow": str(d.get("flow", "")),
        "udp": d.get("network", "") != "tcp",
        "tls": _sing_box_tls(d),
        "obfs_password": str(obfs.get("password", "")),
        "congestion_control": str(d.get("congestion_control", "bbr")),
        **_sing_box_transport(d),
    }
    if protocol is Protocol.SHADOWSOCKS:
        fields["method"] = str(d["method"])
    elif protocol is Protocol.VMESS:
        fields["method"] = str(d.get("security", "auto"))
    return ClientProxy(**fields)


def parse_sing_box(text: str | bytes) -> list[ClientProxy]:
    """Proxy outbounds of a sing-box config (groups, direct etc. are left out)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError("not JSON") from exc
    known = {p.value for p in Protocol}
    return [sing_box_to_proxy(o) for o in doc.get("outbounds", []) if o.get("type") in known]
