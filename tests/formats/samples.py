"""Proxies for format tests: a fixed matrix of every protocol/transport/security combination,
and hypothesis strategies that build valid random ones."""

from __future__ import annotations

import base64
import os
from dataclasses import replace
from typing import Any

from hypothesis import strategies as st

from vpanel_core.proxies import ClientProxy, Protocol, Tls, Transport

UUID = "11111111-2222-4333-8444-555555555555"
PUBKEY = base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
SS128 = base64.b64encode(bytes(16)).decode()
SS256 = base64.b64encode(bytes(range(32))).decode()
TLS = Tls(server_name="example.com", alpn=("h2", "http/1.1"), fingerprint="chrome")
REALITY = Tls(
    server_name="www.example.com",
    fingerprint="chrome",
    reality_public_key=PUBKEY,
    reality_short_id="0123abcd",
)


def _p(id: str, protocol: Protocol, **kw: object) -> ClientProxy:
    fields: dict[str, object] = {"server": "example.com", "port": 443, **kw}
    return ClientProxy(id=id, name=id, protocol=protocol, **fields)  # type: ignore[arg-type]


MATRIX: list[ClientProxy] = [
    _p("vless-reality", Protocol.VLESS, uuid=UUID, flow="xtls-rprx-vision", tls=REALITY),
    _p(
        "vless-reality-grpc",
        Protocol.VLESS,
        uuid=UUID,
        tls=REALITY,
        transport=Transport.GRPC,
        service_name="grpcsvc",
    ),
    _p("vless-tls-tcp", Protocol.VLESS, uuid=UUID, tls=Tls(server_name="example.com")),
    _p("vless-tls-vision", Protocol.VLESS, uuid=UUID, flow="xtls-rprx-vision", tls=TLS),
    _p(
        "vless-ws",
        Protocol.VLESS,
        uuid=UUID,
        tls=TLS,
        transport=Transport.WS,
        path="/ws",
        host="cdn.example.com",
    ),
    _p(
        "vless-grpc",
        Protocol.VLESS,
        uuid=UUID,
        tls=Tls(server_name="example.com"),
        transport=Transport.GRPC,
        service_name="grpcsvc",
    ),
    _p(
        "vless-httpupgrade",
        Protocol.VLESS,
        uuid=UUID,
        tls=Tls(server_name="example.com"),
        transport=Transport.HTTPUPGRADE,
        path="/up",
        host="example.com",
    ),
    _p("vless-plain-ws", Protocol.VLESS, uuid=UUID, transport=Transport.WS, path="/ws"),
    _p("vmess-tcp", Protocol.VMESS, uuid=UUID, method="auto"),
    _p(
        "vmess-ws-tls",
        Protocol.VMESS,
        uuid=UUID,
        method="chacha20-poly1305",
        tls=Tls(server_name="example.com"),
        transport=Transport.WS,
        path="/vm",
        host="example.com",
    ),
    _p(
        "vmess-grpc",
        Protocol.VMESS,
        uuid=UUID,
        method="aes-128-gcm",
        tls=Tls(server_name="example.com"),
        transport=Transport.GRPC,
        service_name="vmgrpc",
    ),
    _p("trojan", Protocol.TROJAN, password="p@ss:word", tls=Tls(server_name="example.com")),
    _p(
        "trojan-ws",
        Protocol.TROJAN,
        password="pw",
        tls=TLS,
        transport=Transport.WS,
        path="/tr",
        host="example.com",
    ),
    _p(
        "trojan-grpc",
        Protocol.TROJAN,
        password="pw",
        tls=Tls(insecure=True),
        transport=Transport.GRPC,
        service_name="trgrpc",
    ),
    _p("ss-aead", Protocol.SHADOWSOCKS, method="aes-256-gcm", password="secret/+=pw", port=8388),
    _p("ss-2022", Protocol.SHADOWSOCKS, method="2022-blake3-aes-128-gcm", password=SS128),
    _p(
        "ss-2022-multi",
        Protocol.SHADOWSOCKS,
        method="2022-blake3-aes-256-gcm",
        password=f"{SS256}:{SS256}",
    ),
    _p(
        "hy2",
        Protocol.HYSTERIA2,
        password="pw",
        obfs_password="ob1",
        tls=Tls(server_name="example.com", alpn=("h3",)),
    ),
    _p("hy2-plain", Protocol.HYSTERIA2, password="pw", tls=Tls(insecure=True)),
    _p(
        "tuic",
        Protocol.TUIC,
        uuid=UUID,
        password="pw",
        congestion_control="cubic",
        tls=Tls(server_name="example.com", alpn=("h3",)),
    ),
    _p(
        "anytls",
        Protocol.ANYTLS,
        password="pw",
        tls=Tls(server_name="example.com", fingerprint="chrome"),
    ),
]

# --- hypothesis ---------------------------------------------------------------------

_label = (
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=20)
    .map(str.strip)
    .filter(bool)
)
_host = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,15}\.(com|net|example)", fullmatch=True),
    st.ip_addresses(v=4).map(str),
)
_secret = st.text(
    st.characters(codec="ascii", categories=["L", "N", "P", "S"]), min_size=1, max_size=24
)
_uuid = st.uuids().map(str)
_path = st.from_regex(r"/[a-zA-Z0-9_./-]{0,20}", fullmatch=True)
_sni = st.one_of(st.just(""), _host)
_alpn = st.sampled_from([(), ("h2",), ("h2", "http/1.1")])
_fp = st.sampled_from(["", "chrome", "firefox", "safari", "ios", "random"])


@st.composite
def tls_settings(draw: st.DrawFn, reality: bool = False, h3: bool = False) -> Tls:
    if reality:
        return Tls(
            server_name=draw(_host),
            fingerprint=draw(_fp.filter(bool)),
            reality_public_key=base64.urlsafe_b64encode(draw(st.binary(min_size=32, max_size=32)))
            .decode()
            .rstrip("="),
            reality_short_id=draw(st.from_regex(r"([0-9a-f]{2}){0,8}", fullmatch=True)),
        )
    return Tls(
        server_name=draw(_sni),
        insecure=draw(st.booleans()),
        alpn=("h3",) if h3 else draw(_alpn),
        fingerprint="" if h3 else draw(_fp),
    )


@st.composite
def _transport(draw: st.DrawFn) -> dict[str, Any]:
    transport = draw(st.sampled_from(list(Transport)))
    if transport is Transport.TCP:
        return {"transport": transport}
    if transport is Transport.GRPC:
        return {
            "transport": transport,
            "service_name": draw(st.from_regex(r"[a-zA-Z][a-zA-Z0-9_.]{0,15}", fullmatch=True)),
        }
    return {"transport": transport, "path": draw(_path), "host": draw(_sni)}


@st.composite
def client_proxies(
    draw: st.DrawFn, protocols: tuple[Protocol, ...] = tuple(Protocol)
) -> ClientProxy:
    """A valid proxy as a panel would produce it (only fields meaningful for its protocol)."""
    protocol = draw(st.sampled_from(protocols))
    name = draw(_label)
    base = ClientProxy(
        id=name,
        name=name,
        protocol=protocol,
        server=draw(_host),
        port=draw(st.integers(1, 65535)),
        udp=draw(st.booleans()),
    )
    if protocol is Protocol.VLESS:
        transport = draw(_transport())
        reality = transport["transport"] in (Transport.TCP, Transport.GRPC) and draw(st.booleans())
        tls = (
            draw(tls_settings(reality=True))
            if reality
            else draw(st.one_of(st.none(), tls_settings()))
        )
        vision = transport["transport"] is Transport.TCP and tls is not None and draw(st.booleans())
        return replace(
            base, uuid=draw(_uuid), tls=tls, flow="xtls-rprx-vision" if vision else "", **transport
        )
    if protocol is Protocol.VMESS:
        return replace(
            base,
            uuid=draw(_uuid),
            **draw(_transport()),
            method=draw(st.sampled_from(["auto", "aes-128-gcm", "chacha20-poly1305", "none"])),
            tls=draw(st.one_of(st.none(), tls_settings())),
        )
    if protocol is Protocol.TROJAN:
        return replace(base, password=draw(_secret), tls=draw(tls_settings()), **draw(_transport()))
    if protocol is Protocol.SHADOWSOCKS:
        method = draw(
            st.sampled_from(
                [
                    "aes-128-gcm",
                    "aes-256-gcm",
                    "chacha20-ietf-poly1305",
                    "2022-blake3-aes-128-gcm",
                    "2022-blake3-aes-256-gcm",
                    "2022-blake3-chacha20-poly1305",
                ]
            )
        )
        if method.startswith("2022"):
            size = 16 if "128" in method else 32
            users = 1 if "chacha20" in method else 2  # EIH multi-user is AES-only
            keys = draw(
                st.lists(st.binary(min_size=size, max_size=size), min_size=1, max_size=users)
            )
            password = ":".join(base64.b64encode(k).decode() for k in keys)
        else:
            password = draw(_secret)
        return replace(base, method=method, password=password)
    if protocol is Protocol.HYSTERIA2:
        return replace(
            base,
            password=draw(_secret),
            tls=draw(tls_settings(h3=True)),
            obfs_password=draw(st.one_of(st.just(""), _secret)),
        )
    if protocol is Protocol.TUIC:
        return replace(
            base,
            uuid=draw(_uuid),
            password=draw(_secret),
            tls=draw(tls_settings(h3=True)),
            congestion_control=draw(st.sampled_from(["bbr", "cubic", "new_reno"])),
        )
    return replace(base, password=draw(_secret), tls=draw(tls_settings()))


def random_ss2022_key(size: int = 16) -> str:
    return base64.b64encode(os.urandom(size)).decode()


# Strings a YAML emitter must quote or escape: YAML 1.1 and 1.2 keywords in several
# cases, numbers, dates and sexagesimals, indicators, `: ` and ` #`, edge spaces, breaks
# (incl. NEL, LS, PS), controls, the BOM, non-characters, and names as operators type them.
TRICKY_STRINGS = [
    *("y", "Y", "n", "N", "yes", "No", "ON", "off", "True", "FALSE", "null", "NULL", "~", ""),
    *("0", "-1", "+1", "017", "0o17", "0x1F", "0b101", "1_000", "1e3", "1.0", "6.8523015e+5"),
    *(".inf", "-.Inf", ".NaN", "1:20", "190:20:30", "2001-12-14", "2001-12-14t21:59:43.10-05:00"),
    *("<<", "=", "- x", "-", "? x", "?", ": x", ":", "a: b", "key:", "a #b", "#c", "a#b"),
    *("&a", "*a", "!t", "!!str", "|", ">", "'q'", '"q"', "%x", "@x", "`x", "[x]", "{x}", ",x"),
    *(" lead", "trail ", " ", "\t", "tab\there", "line\nbreak", "cr\rlf", "\r\n", "end\n"),
    *("nel\x85", "ls\u2028", "ps\u2029", "\ufeffbom", "nul\x00", "bell\x07", "esc\x1b"),
    *("del\x7f", "c1\x9b", "nbsp\xa0", "\ufffe", "\uffff", "back\\slash"),
    *("🇩🇪 Node 1", "香港 01", "a,b", "http://x:80/?q=1#f", "p@ss:word", "x" * 200),
]
