"""Offline activation end to end (decision 6): the desktop pairs, publishes and pushes
once, then goes away; a customer registers and pays on the real portal; the node helper
pulls the new entitlement itself and a real sing-box client configured from the
customer's portal subscription fetches a page through the node within a minute."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from tests.fixtures.clients import ORIGIN_BODY, http_origin, run_sing_box
from tests.fixtures.ports import free_port, free_ports
from tests.fixtures.sshd import Fleet, wait_until
from tests.sync.world import register_and_pay
from tests.wiring.conftest import Portal
from vpanel_core import credentials, secretbox
from vpanel_core.db import transaction
from vpanel_core.models import Subscription
from vpanel_core.nodes import server_config
from vpanel_core.nodes.push import Outcome
from vpanel_core.services import plans
from vpanel_core.services.nodes import NewInbound, NewNode, add_inbound, create_node
from vpanel_core.services.users import NewUser, create_user
from vpanel_core.sync.client import SyncClient
from vpanel_core.sync.transport import HttpTransport
from vpanel_node import portal_feed

pytestmark = pytest.mark.e2e

SNI = "node.test"
INBOUNDS = [
    NewInbound("trojan", "trojan", 0, sni=SNI),
    NewInbound("ss2022", "shadowsocks", 0),
    NewInbound("vless-tls", "vless", 0, sni=SNI),
]
ACTIVATION_BUDGET = 60.0


def proxied_get(port: int, url: str) -> bool:
    session = requests.Session()
    session.trust_env = False
    try:
        response = session.get(url, proxies={"http": f"http://127.0.0.1:{port}"}, timeout=3)
    except requests.RequestException:
        return False
    return response.status_code == 200 and response.content == ORIGIN_BODY


def sing_box_client(outbound: dict[str, Any], workdir: Path) -> tuple[Any, int]:
    mixed = free_port()
    config = {
        "log": {"level": "info"},
        "inbounds": [{"type": "mixed", "listen": "127.0.0.1", "listen_port": mixed}],
        "outbounds": [outbound],
        "route": {"final": outbound["tag"]},
    }
    return run_sing_box(config, workdir, ready_port=mixed), mixed


def test_customer_paying_while_desktop_is_offline_connects_through_the_node(
    fleet: Fleet, portal: Portal, tmp_path: Path
) -> None:
    node_id = fleet.add_node("edge-1")
    for spec, port in zip(INBOUNDS, free_ports(len(INBOUNDS)), strict=True):
        fleet.add_inbound(node_id, replace(spec, listen_port=port))
    with transaction(fleet.db.sessions) as session:
        plans.create_plan(session, plans.NewPlan("Basic", 500, "USD", 30, traffic_bytes=5 << 30))
    fleet.add_user("alice")

    # The desktop pairs, publishes (plan, node + its pull-token hash, alice) and pushes once.
    transport = HttpTransport(timeout=10)
    client = SyncClient(fleet.db, secretbox.load(tmp_path, use_keyring=False), transport=transport)
    client.pair(portal.url, portal.pairing_code())
    client.sync_once()
    [pushed] = fleet.push(pull_interval=1.0)
    assert pushed.outcome is Outcome.OK, pushed
    transport.close()  # the operator's computer is off from here on

    remote = Path(fleet.sshd[node_id].remote_dir)
    settings = json.loads((remote / "portal.json").read_text())
    assert settings["url"] == portal.url and settings["node_id"] == str(node_id)

    paid_at = time.monotonic()
    customer = register_and_pay(portal.db, "night@example.org")
    with portal.db.sessions() as session:
        token = session.scalar(select(Subscription.token).where(Subscription.user_id == customer))
    sub = requests.get(f"{portal.url}/api/subscription/{token}?format=sing_box", timeout=10)
    assert sub.status_code == 200, sub.text
    outbounds = [o for o in sub.json()["outbounds"] if o["tag"].startswith("edge-1-")]
    assert {o["tag"] for o in outbounds} == {f"edge-1-{s.tag}" for s in INBOUNDS}

    with http_origin() as origin, ExitStack() as stack:
        clients = []
        for outbound in outbounds:
            process, port = sing_box_client(outbound, tmp_path / outbound["tag"])
            stack.enter_context(process)
            clients.append((outbound["tag"], port))
        first: dict[str, float] = {}

        def all_fetched() -> bool:
            for tag, port in clients:
                if tag not in first and proxied_get(port, f"{origin}/{tag}"):
                    first[tag] = time.monotonic() - paid_at
            return len(first) == len(clients)

        wait_until(all_fetched, timeout=ACTIVATION_BUDGET, what="the paid customer's traffic")
    activation = min(first.values())
    print(
        f"\npayment → first fetch through the node: {activation:.2f} s; per inbound: "
        + ", ".join(f"{t}={s:.2f}s" for t, s in sorted(first.items()))
    )
    assert activation < ACTIVATION_BUDGET

    node_config = json.loads((remote / "config.json").read_text())
    named = {u.get("name") for i in node_config["inbounds"] for u in i["users"]}
    assert credentials.inbound_user_name(customer) in named


def test_node_builds_the_same_users_the_desktop_renders(fleet: Fleet) -> None:
    """The node's stdlib credential derivation matches vpanel_core's for every protocol."""
    with transaction(fleet.db.sessions) as session:
        node = create_node(session, NewNode(name="n", host="203.0.113.9", api_port=20000))
        specs = [
            NewInbound("trojan", "trojan", 20001),
            NewInbound("ss128", "shadowsocks", 20002, method="2022-blake3-aes-128-gcm"),
            NewInbound("ss256", "shadowsocks", 20003, method="2022-blake3-aes-256-gcm"),
            NewInbound("vless", "vless", 20004),
            NewInbound("vmess", "vmess", 20005, transport="ws", path="/vm"),
            NewInbound("hy2", "hysteria2", 20006),
            NewInbound("tuic", "tuic", 20007),
            NewInbound("anytls", "anytls", 20008),
        ]
        for spec in specs:
            add_inbound(session, node, spec)
        user = create_user(session, NewUser(username="bob", days=30, traffic_bytes=1 << 30))
        session.flush()
        session.refresh(node)
        full = server_config.render(node, [user])
        empty = server_config.render(node, [])
        methods = {i.settings["method"] for i in node.inbounds if i.protocol == "shadowsocks"}
        for method in portal_feed.SS2022_KEY_BYTES:
            assert portal_feed.ss2022_user_key(user.proxy_secret, method) == (
                credentials.ss2022_user_key(user.proxy_secret, method)
            )
        pulled = portal_feed.PortalUser(
            credentials.inbound_user_name(user.id),
            str(user.credential),
            credentials.user_password(user.proxy_secret),
            None,
            None,
        )
    assert len(methods) == 2
    managed: set[str] = set()
    removed = portal_feed.merge_users(empty, {pulled.name: pulled}, managed, set(), {})
    assert removed == set() and managed == {pulled.name}
    for mine, theirs in zip(empty["inbounds"], full["inbounds"], strict=True):
        users = [u for u in mine["users"] if u["name"] != server_config.SS_PLACEHOLDER]
        assert users == theirs["users"], mine["tag"]
    # The portal stops listing the user: the node takes out exactly what it added.
    assert portal_feed.merge_users(empty, {}, managed, set(), {}) == {pulled.name}
    assert all(pulled.name not in {u["name"] for u in i["users"]} for i in empty["inbounds"])
