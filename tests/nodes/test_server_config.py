"""The rendered sing-box server config: accepted by the real `sing-box check`, carrying
exactly the entitled users under their accounting names, and byte-for-byte stable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fixtures.clients import sing_box_check
from vpanel_core.credentials import inbound_user_name, ss2022_user_key
from vpanel_core.db import transaction
from vpanel_core.models import Node
from vpanel_core.nodes import server_config
from vpanel_core.nodes.keygen import reality_public_key
from vpanel_core.runtime import Database
from vpanel_core.services.nodes import NewInbound, NewNode, add_inbound, create_node
from vpanel_core.services.users import NewUser, create_user

ALL_PROTOCOLS = [
    NewInbound("trojan", "trojan", 20001),
    NewInbound("ss", "shadowsocks", 20002),
    NewInbound("vless-tls", "vless", 20003),
    NewInbound("vless-ws", "vless", 20004, transport="ws", path="/vl"),
    NewInbound("vmess-ws", "vmess", 20005, transport="ws", path="/vm"),
    NewInbound("vmess-grpc", "vmess", 20006, transport="grpc", service_name="gun"),
    NewInbound("hy2", "hysteria2", 20007, obfs=True),
    NewInbound("tuic", "tuic", 20008),
    NewInbound("anytls", "anytls", 20009),
]


def make_node(session, name: str = "n1", group: str = "default") -> Node:
    return create_node(session, NewNode(name=name, host="203.0.113.7", group=group, api_port=20000))


def rendered(database: Database, node_id) -> dict[str, Any]:
    with transaction(database.sessions) as session:
        node = session.get(Node, node_id)
        assert node is not None
        config: dict[str, Any] = json.loads(
            server_config.render_bytes(node, server_config.entitled_users(session, node))
        )
        return config


def test_every_protocol_passes_sing_box_check_with_and_without_users(
    database: Database, tmp_path: Path
) -> None:
    with transaction(database.sessions) as session:
        node = make_node(session)
        for spec in ALL_PROTOCOLS:
            add_inbound(session, node, spec)
        node_id = node.id
    empty = rendered(database, node_id)
    with transaction(database.sessions) as session:
        create_user(session, NewUser(username="alice", days=30, traffic_bytes=1 << 30))
    full = rendered(database, node_id)

    for config in (empty, full):
        result = sing_box_check(config, tmp_path)
        assert result.returncode == 0, result.stderr
    assert [i["tag"] for i in full["inbounds"]] == [s.tag for s in ALL_PROTOCOLS]


def test_only_active_users_of_matching_groups_are_rendered_under_their_ids(
    database: Database,
) -> None:
    with transaction(database.sessions) as session:
        node = make_node(session, group="eu")
        add_inbound(session, node, NewInbound("trojan", "trojan", 443))
        add_inbound(session, node, NewInbound("ss", "shadowsocks", 8388))
        ok = create_user(session, NewUser(username="okay", days=30, traffic_bytes=1 << 30))
        everywhere = create_user(
            session, NewUser(username="everywhere", days=30, traffic_bytes=1 << 30)
        )
        create_user(
            session,
            NewUser(username="asia", days=30, traffic_bytes=1 << 30, node_groups=("asia",)),
        )
        create_user(session, NewUser(username="lapsed", traffic_bytes=1 << 30))
        off = create_user(session, NewUser(username="off", days=30, traffic_bytes=1 << 30))
        off.enabled = False
        ok.node_groups = ["eu"]
        node_id, expected = node.id, sorted([ok, everywhere], key=lambda u: str(u.id))
        psk = node.inbounds[1].settings["server_psk"]
        method = node.inbounds[1].settings["method"]

    trojan, ss = rendered(database, node_id)["inbounds"]

    assert [u["name"] for u in trojan["users"]] == [inbound_user_name(u.id) for u in expected]
    assert [u["password"] for u in trojan["users"]] == [u.proxy_secret for u in expected]
    assert ss["password"] == psk
    assert [u["password"] for u in ss["users"]] == [
        ss2022_user_key(u.proxy_secret, method) for u in expected
    ]


def test_shadowsocks_without_users_stays_multi_user_so_the_psk_alone_opens_nothing(
    database: Database,
) -> None:
    with transaction(database.sessions) as session:
        node = make_node(session)
        add_inbound(session, node, NewInbound("ss", "shadowsocks", 8388))
        node_id = node.id
    [ss] = rendered(database, node_id)["inbounds"]
    assert [u["name"] for u in ss["users"]] == [server_config.SS_PLACEHOLDER]
    assert ss["users"][0]["password"] != ss["password"]


def test_rendering_is_deterministic_and_a_new_user_changes_the_version(database: Database) -> None:
    with transaction(database.sessions) as session:
        node = make_node(session)
        for spec in ALL_PROTOCOLS[:3]:
            add_inbound(session, node, spec)
        for name in ("carol", "alice", "bob"):
            create_user(session, NewUser(username=name, days=3, traffic_bytes=1 << 30))
        first = server_config.render_bytes(node, server_config.entitled_users(session, node))
        again = server_config.render_bytes(node, server_config.entitled_users(session, node))
        create_user(session, NewUser(username="dave", days=3, traffic_bytes=1 << 30))
        changed = server_config.render_bytes(node, server_config.entitled_users(session, node))
    assert first == again
    assert server_config.config_version(first) == server_config.config_version(again)
    assert server_config.config_version(changed) != server_config.config_version(first)


def test_api_service_listens_on_loopback_with_the_node_secret(database: Database) -> None:
    with transaction(database.sessions) as session:
        node = make_node(session)
        node_id, secret = node.id, node.api_secret
    config = rendered(database, node_id)
    assert config["services"] == [
        {
            "type": "api",
            "tag": server_config.API_TAG,
            "listen": "127.0.0.1",
            "listen_port": 20000,
            "secret": secret,
        }
    ]
    assert "clash_api" in config["experimental"]
    assert {"ip_is_private": True, "action": "reject"} in config["route"]["rules"]


def test_reality_inbound_renders_server_keys_and_check_only_lacks_utls(
    database: Database, tmp_path: Path
) -> None:
    """The PyPI sing-box build has no uTLS, so REALITY cannot run here; everything else
    about the config must be right (check fails on nothing but the missing build tag)."""
    with transaction(database.sessions) as session:
        node = make_node(session)
        add_inbound(
            session,
            node,
            NewInbound("reality", "vless", 443, tls_mode="reality", sni="www.example.com"),
        )
        settings = dict(node.inbounds[0].settings)
        create_user(session, NewUser(username="alice", days=3, traffic_bytes=1 << 30))
        node_id = node.id
    [inbound] = rendered(database, node_id)["inbounds"]

    reality = inbound["tls"]["reality"]
    assert reality["private_key"] == settings["reality_private_key"]
    assert reality_public_key(reality["private_key"]) == settings["reality_public_key"]
    assert reality["short_id"] == settings["short_ids"]
    assert reality["handshake"] == {"server": "www.example.com", "server_port": 443}
    assert inbound["users"][0]["flow"] == "xtls-rprx-vision"
    result = sing_box_check(rendered(database, node_id), tmp_path)
    assert result.returncode != 0 and "uTLS" in result.stderr


def test_acme_inbound_uses_a_1_14_certificate_provider(database: Database, tmp_path: Path) -> None:
    with transaction(database.sessions) as session:
        node = make_node(session)
        add_inbound(
            session,
            node,
            NewInbound("tr", "trojan", 443, sni="vpn.example.com", acme_email="ops@example.com"),
        )
        node_id = node.id
    config = rendered(database, node_id)
    assert config["inbounds"][0]["tls"]["certificate_provider"] == "acme-tr"
    assert config["certificate_providers"] == [
        {
            "type": "acme",
            "tag": "acme-tr",
            "domain": ["vpn.example.com"],
            "email": "ops@example.com",
            "data_directory": "acme",
        }
    ]
    result = sing_box_check(config, tmp_path)
    assert "deprecated" not in result.stderr
    assert result.returncode == 0 or "with_acme" in result.stderr
