"""End to end: provision a node over real SSH, push its sing-box config, and carry an HTTP
GET through it with real sing-box and mihomo clients configured from the subscription the
portal serves; disabling the user and pushing again cuts the same clients off."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from portal.app import close_app, create_app
from portal.config import PortalConfig
from tests.fixtures.clients import ORIGIN_BODY, http_origin, run_mihomo, run_sing_box
from tests.fixtures.ports import free_port, free_ports
from tests.fixtures.sshd import Fleet
from vpanel_core.db import transaction
from vpanel_core.models import Subscription, User
from vpanel_core.nodes.push import Outcome
from vpanel_core.nodes.status import node_status
from vpanel_core.services.nodes import NewInbound

pytestmark = pytest.mark.e2e

SNI = "node.test"
INBOUNDS: list[tuple[str, dict[str, Any]]] = [
    ("trojan", dict(protocol="trojan", sni=SNI)),
    ("ss2022", dict(protocol="shadowsocks")),
    ("vless-tls", dict(protocol="vless", sni=SNI)),
    ("vmess-ws", dict(protocol="vmess", transport="ws", path="/vm", sni=SNI)),
    ("vless-grpc", dict(protocol="vless", transport="grpc", service_name="gun", sni=SNI)),
    ("hy2", dict(protocol="hysteria2", obfs=True, sni=SNI)),
    ("tuic", dict(protocol="tuic", sni=SNI)),
    ("anytls", dict(protocol="anytls", sni=SNI)),
]
MIHOMO_TAGS = ("trojan", "ss2022", "vmess-ws", "hy2")


def fetch(port: int, url: str, retry_for: float) -> bytes:
    session = requests.Session()
    session.trust_env = False
    deadline = time.monotonic() + retry_for
    while True:
        try:
            response = session.get(url, proxies={"http": f"http://127.0.0.1:{port}"}, timeout=3)
            response.raise_for_status()
            return response.content
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def subscription(fleet: Fleet, user_id: Any, fmt: str) -> str:
    """The subscription as a client downloads it from the portal."""
    with transaction(fleet.db.sessions) as session:
        token = session.query(Subscription).filter_by(user_id=user_id).one().token
    config = PortalConfig(database_url=str(fleet.db.engine.url), secret_key="k" * 40)
    app = create_app(config, database=fleet.db)
    try:
        response = app.test_client().get(f"/api/subscription/{token}?format={fmt}")
    finally:
        close_app(app)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def sing_box_client(outbound: dict[str, Any], workdir: Path) -> tuple[Any, int]:
    mixed = free_port()
    config = {
        "log": {"level": "info"},
        "inbounds": [{"type": "mixed", "listen": "127.0.0.1", "listen_port": mixed}],
        "outbounds": [outbound],
        "route": {"final": outbound["tag"]},
    }
    return run_sing_box(config, workdir, ready_port=mixed), mixed


def mihomo_client(proxy: dict[str, Any], workdir: Path) -> tuple[Any, int]:
    mixed = free_port()
    config = {
        "mixed-port": mixed,
        "bind-address": "127.0.0.1",
        "allow-lan": False,
        "ipv6": False,
        "mode": "rule",
        "log-level": "info",
        "geo-auto-update": False,
        "proxies": [proxy],
        "rules": [f"MATCH,{proxy['name']}"],
    }
    return run_mihomo(config, workdir, ready_port=mixed), mixed


def test_pushed_node_carries_traffic_for_entitled_user_and_refuses_disabled_one(
    fleet: Fleet, tmp_path: Path
) -> None:
    node_id = fleet.add_node("edge-1", upload=True)
    for (tag, spec), port in zip(INBOUNDS, free_ports(len(INBOUNDS)), strict=True):
        fleet.add_inbound(node_id, NewInbound(tag=tag, listen_port=port, **spec))
    user_id = fleet.add_user("alice", days=30)

    stages: list[str] = []
    [result] = fleet.push(on_progress=lambda node, stage: stages.append(f"{node}:{stage}"))
    assert result.outcome is Outcome.OK, result
    assert stages == [
        f"edge-1:{s}" for s in ("connect", "compare", "upload", "check", "activate", "done")
    ]
    status = node_status(fleet.node(node_id))
    assert status.healthy and status.config_in_sync
    assert status.sing_box_version == "1.14.4"

    outbounds = {
        o["tag"]: o for o in json.loads(subscription(fleet, user_id, "sing_box"))["outbounds"]
    }
    proxies = {
        p["name"]: p for p in yaml.safe_load(subscription(fleet, user_id, "clash_meta"))["proxies"]
    }
    clients = []
    with http_origin() as origin, ExitStack() as stack:
        for tag, _spec in INBOUNDS:
            name = f"edge-1-{tag}"
            made = [sing_box_client(outbounds[name], tmp_path / f"sb-{tag}")]
            if tag in MIHOMO_TAGS:
                made.append(mihomo_client(proxies[name], tmp_path / f"mh-{tag}"))
            for process, port in made:
                stack.enter_context(process)
                clients.append((tag, port))
        for tag, port in clients:
            assert fetch(port, origin + f"/{tag}", retry_for=10) == ORIGIN_BODY, tag

        with transaction(fleet.db.sessions) as session:
            user = session.get(User, user_id)
            assert user is not None
            user.enabled = False
        [result] = fleet.push()
        assert result.outcome is Outcome.OK, result
        for tag, port in clients:
            with pytest.raises(requests.RequestException):
                fetch(port, origin + f"/{tag}", retry_for=0.5)
