"""End to end: a real sing-box server per protocol on loopback, and the *generated*
client config (a sing-box outbound, a mihomo proxy) carrying an HTTP GET to a local origin.

One server per protocol (module-scoped, indirect parametrization), reused by both
clients. REALITY is absent: the PyPI sing-box build has no uTLS/REALITY.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.fixtures.clients import ORIGIN_BODY, run_mihomo, run_sing_box
from tests.fixtures.ports import free_port
from tests.formats.samples import random_ss2022_key
from vpanel_core.formats import FormatOptions, get_format
from vpanel_core.proxies import ClientProxy, Protocol, Tls, Transport

pytestmark = pytest.mark.e2e

PROTOCOLS = ["vless-vision-tls", "vmess-ws", "trojan", "ss2022", "hysteria2", "tuic", "anytls"]


@dataclass(frozen=True)
class Server:
    proxy: ClientProxy


def _server_inbound(
    kind: str, port: int, cert: tuple[Path, Path]
) -> tuple[dict[str, Any], ClientProxy]:
    """A minimal sing-box server inbound and the matching client-side proxy."""
    secret, user_uuid = "pw-" + uuid.uuid4().hex[:8], str(uuid.uuid4())
    tls_in = {
        "enabled": True,
        "server_name": "localhost",
        "certificate_path": str(cert[0]),
        "key_path": str(cert[1]),
    }
    tls_out = Tls(server_name="localhost", insecure=True)
    h3_in, h3_out = (
        {**tls_in, "alpn": ["h3"]},
        Tls(server_name="localhost", insecure=True, alpn=("h3",)),
    )
    base = {"tag": "in", "listen": "127.0.0.1", "listen_port": port}
    proxy = ClientProxy(id=kind, name=kind, protocol=Protocol.VLESS, server="127.0.0.1", port=port)
    if kind == "vless-vision-tls":
        inbound = {
            "type": "vless",
            "users": [{"name": "u", "uuid": user_uuid, "flow": "xtls-rprx-vision"}],
            "tls": tls_in,
        }
        out = dict(uuid=user_uuid, flow="xtls-rprx-vision", tls=tls_out)
    elif kind == "vmess-ws":
        inbound = {
            "type": "vmess",
            "users": [{"name": "u", "uuid": user_uuid, "alterId": 0}],
            "transport": {"type": "ws", "path": "/vm"},
        }
        out = dict(
            protocol=Protocol.VMESS,
            uuid=user_uuid,
            method="auto",
            transport=Transport.WS,
            path="/vm",
            host="localhost",
        )
    elif kind == "trojan":
        inbound = {"type": "trojan", "users": [{"name": "u", "password": secret}], "tls": tls_in}
        out = dict(protocol=Protocol.TROJAN, password=secret, tls=tls_out)
    elif kind == "ss2022":
        server_key, user_key = random_ss2022_key(), random_ss2022_key()
        inbound = {
            "type": "shadowsocks",
            "method": "2022-blake3-aes-128-gcm",
            "password": server_key,
            "users": [{"name": "u", "password": user_key}],
        }
        out = dict(
            protocol=Protocol.SHADOWSOCKS,
            method="2022-blake3-aes-128-gcm",
            password=f"{server_key}:{user_key}",
        )
    elif kind == "hysteria2":
        inbound = {
            "type": "hysteria2",
            "users": [{"name": "u", "password": secret}],
            "obfs": {"type": "salamander", "password": "ob-" + secret},
            "tls": h3_in,
        }
        out = dict(
            protocol=Protocol.HYSTERIA2, password=secret, obfs_password="ob-" + secret, tls=h3_out
        )
    elif kind == "tuic":
        inbound = {
            "type": "tuic",
            "users": [{"name": "u", "uuid": user_uuid, "password": secret}],
            "congestion_control": "bbr",
            "tls": h3_in,
        }
        out = dict(protocol=Protocol.TUIC, uuid=user_uuid, password=secret, tls=h3_out)
    else:
        inbound = {"type": "anytls", "users": [{"name": "u", "password": secret}], "tls": tls_in}
        out = dict(protocol=Protocol.ANYTLS, password=secret, tls=tls_out)
    return {**base, **inbound}, replace(proxy, **out)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=PROTOCOLS)
def server(request, tls_cert, tmp_path_factory) -> Iterator[Server]:
    kind = request.param
    udp = kind in ("hysteria2", "tuic")
    port = free_port(socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    inbound, proxy = _server_inbound(kind, port, tls_cert)
    config = {
        "log": {"level": "info"},
        "inbounds": [inbound],
        "outbounds": [{"type": "direct", "tag": "direct"}],
    }
    with run_sing_box(
        config, tmp_path_factory.mktemp(f"server-{kind}"), ready_port=None if udp else port
    ):
        yield Server(proxy)


def _fetch_through(mixed_port: int, url: str, retry_for: float = 10.0) -> bytes:
    """GET via the client's mixed port; retried briefly while the tunnel comes up."""
    session = requests.Session()
    session.trust_env = False
    proxies = {"http": f"http://127.0.0.1:{mixed_port}"}
    deadline = time.monotonic() + retry_for
    while True:
        try:
            response = session.get(url, proxies=proxies, timeout=3)
            response.raise_for_status()
            return response.content
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _sing_box_client(proxy: ClientProxy, workdir: Path) -> tuple[Any, int]:
    """A client config around the generated outbound: mixed inbound, everything to it."""
    generated = json.loads(get_format("sing_box").generate([proxy], FormatOptions()))
    outbound = next(o for o in generated["outbounds"] if o["tag"] == proxy.name)
    mixed = free_port()
    config = {
        "log": {"level": "info"},
        "inbounds": [
            {"type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1", "listen_port": mixed}
        ],
        "outbounds": [outbound, {"type": "direct", "tag": "direct"}],
        "route": {"final": outbound["tag"]},
    }
    return run_sing_box(config, workdir, ready_port=mixed), mixed


def _mihomo_client(proxy: ClientProxy, workdir: Path) -> tuple[Any, int]:
    """A mihomo config around the generated proxy entry, every connection through it."""
    generated = yaml.safe_load(get_format("clash_meta").generate([proxy], FormatOptions()))
    entry = generated["proxies"][0]
    mixed = free_port()
    config = {
        "mixed-port": mixed,
        "bind-address": "127.0.0.1",
        "allow-lan": False,
        "ipv6": False,
        "mode": "rule",
        "log-level": "info",
        "geo-auto-update": False,
        "proxies": [entry],
        "rules": [f"MATCH,{entry['name']}"],
    }
    return run_mihomo(config, workdir, ready_port=mixed), mixed


@pytest.mark.parametrize("client", [_sing_box_client, _mihomo_client], ids=["sing-box", "mihomo"])
def test_generated_client_config_carries_http_get(
    server, client, http_origin, start_process, tmp_path
):
    process, mixed = client(server.proxy, tmp_path / "client")
    start_process(process)
    assert _fetch_through(mixed, http_origin + "/hello") == ORIGIN_BODY


@pytest.mark.parametrize("server", ["trojan", "vmess"], indirect=True)
@pytest.mark.parametrize("client", [_sing_box_client, _mihomo_client], ids=["sing-box", "mihomo"])
def test_wrong_credentials_do_not_get_through(server, client, http_origin, start_process, tmp_path):
    """Guards the test itself: traffic really goes through the server, not around it.

    One TLS protocol (trojan) and one with its own cipher (vmess) are enough for that.
    """
    bad = replace(server.proxy, password="wrong", uuid=str(uuid.uuid4()))
    process, mixed = client(bad, tmp_path / "client")
    start_process(process)
    with pytest.raises(requests.RequestException):
        _fetch_through(mixed, http_origin + "/hello", retry_for=1.0)
