"""Generate -> parse back gives the same proxies (hypothesis, 100+ examples each)."""

from __future__ import annotations

import base64
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.formats.samples import MATRIX, client_proxies
from vpanel_core.formats import FormatOptions, get_format
from vpanel_core.formats.links import share_link
from vpanel_core.formats.parse import parse_clash_meta, parse_link, parse_links, parse_sing_box
from vpanel_core.proxies import ClientProxy, Protocol

_RESERVED = {"proxy", "auto", "direct", "PROXY", "AUTO", "DIRECT", "REJECT", "GLOBAL"}
_subscriptions = st.lists(
    client_proxies().filter(lambda p: p.name not in _RESERVED),
    max_size=5,
    unique_by=lambda p: p.name,
)


def _as_parsed(p: ClientProxy, *, udp: bool | None = None) -> ClientProxy:
    """What a parser can know: the name doubles as id; udp only where the format says it."""
    return replace(p, id=p.name, udp=p.udp if udp is None else udp)


@settings(max_examples=150, deadline=None)
@given(proxies=_subscriptions)
def test_share_links_round_trip(proxies):
    """Property: parse_links(links.generate(ps)) == ps for server, port, credentials,
    transport and TLS (links carry no UDP flag, so udp reads back as the default True)."""
    body = get_format("links").generate(proxies, FormatOptions())
    assert parse_links(body) == [_as_parsed(p, udp=True) for p in proxies]


@settings(max_examples=150, deadline=None)
@given(proxies=_subscriptions)
def test_clash_meta_yaml_round_trips(proxies):
    """Property: parse_clash_meta(clash_meta.generate(ps)) == ps, all fields incl. udp."""
    body = get_format("clash_meta").generate(proxies, FormatOptions())
    assert parse_clash_meta(body) == [_as_parsed(p) for p in proxies]


@settings(max_examples=150, deadline=None)
@given(proxies=_subscriptions)
def test_sing_box_json_round_trips(proxies):
    """Property: parse_sing_box(sing_box.generate(ps)) == ps; sing-box only records a
    disabled UDP (`network: tcp`) for VLESS/VMess/Shadowsocks."""
    body = get_format("sing_box").generate(proxies, FormatOptions())
    udp_aware = (Protocol.VLESS, Protocol.VMESS, Protocol.SHADOWSOCKS)
    expected = [_as_parsed(p, udp=None if p.protocol in udp_aware else True) for p in proxies]
    assert parse_sing_box(body) == expected


def test_every_matrix_proxy_round_trips_through_its_link():
    for proxy in MATRIX:
        assert parse_link(share_link(proxy)) == _as_parsed(proxy, udp=True), proxy.id


def test_parser_accepts_base64_userinfo_for_shadowsocks_2022():
    """v2rayN and Xboard base64 the 2022 userinfo against SIP022; we still read it."""
    userinfo = base64.b64encode(b"2022-blake3-aes-128-gcm:AAAAAAAAAAAAAAAAAAAAAA==").decode()
    proxy = parse_link(f"ss://{userinfo.rstrip('=')}@example.com:8388#x")
    assert (proxy.method, proxy.password) == ("2022-blake3-aes-128-gcm", "AAAAAAAAAAAAAAAAAAAAAA==")


def test_parser_accepts_numeric_and_string_vmess_fields():
    for port, aid in (("443", "0"), (443, 0)):
        raw = (
            f'{{"v":"2","ps":"n","add":"example.com","port":{port!r},"id":"u","aid":{aid!r},'
            f'"net":"tcp","tls":""}}'
        ).replace("'", '"')
        proxy = parse_link("vmess://" + base64.b64encode(raw.encode()).decode())
        assert (proxy.port, proxy.server, proxy.tls) == (443, "example.com", None)


def test_parser_reads_hy2_scheme_with_default_port():
    proxy = parse_link("hy2://secret@example.com/?sni=a.example#n")
    assert (proxy.protocol, proxy.port, proxy.password) == (Protocol.HYSTERIA2, 443, "secret")
