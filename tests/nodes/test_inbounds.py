"""Adding inbounds: generated secrets in the keys the client side reads, and clear
refusals (nothing stored) for port clashes and impossible combinations."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509

from vpanel_core.client_view import client_proxy
from vpanel_core.db import transaction
from vpanel_core.errors import Conflict, ValidationError
from vpanel_core.models import Inbound
from vpanel_core.runtime import Database
from vpanel_core.services.nodes import NewInbound, NewNode, add_inbound, create_node
from vpanel_core.services.users import NewUser, create_user


@pytest.fixture
def node_id(database: Database):
    with transaction(database.sessions) as session:
        return create_node(session, NewNode(name="n1", host="vpn.example.net", api_port=9999)).id


def add(database: Database, node_id, spec: NewInbound) -> Inbound:
    from vpanel_core.models import Node

    with transaction(database.sessions) as session:
        node = session.get(Node, node_id)
        assert node is not None
        return add_inbound(session, node, spec)


def count(database: Database) -> int:
    with transaction(database.sessions) as session:
        return session.query(Inbound).count()


def test_generated_secrets_have_the_shapes_clients_need(database: Database, node_id) -> None:
    reality = add(database, node_id, NewInbound("r", "vless", 443, tls_mode="reality", sni="a.com"))
    ss = add(
        database, node_id, NewInbound("ss", "shadowsocks", 8388, method="2022-blake3-aes-256-gcm")
    )
    hy2 = add(database, node_id, NewInbound("hy2", "hysteria2", 443, obfs=True))

    assert len(base64.urlsafe_b64decode(reality.settings["reality_public_key"] + "=")) == 32
    assert "=" not in reality.settings["reality_private_key"]
    assert all(len(s) == 8 for s in reality.settings["short_ids"])
    assert reality.settings["flow"] == "xtls-rprx-vision"
    assert len(base64.b64decode(ss.settings["server_psk"])) == 32
    cert = x509.load_pem_x509_certificate(hy2.settings["certificate_pem"].encode())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["vpn.example.net"]
    assert hy2.settings["self_signed"] is True and hy2.settings["obfs_password"]


def test_client_facing_address_can_differ_from_the_listener(database: Database, node_id) -> None:
    add(
        database,
        node_id,
        NewInbound(
            "cdn",
            "vmess",
            8080,
            transport="ws",
            path="/w",
            sni="cdn.example.org",
            client_host="cdn.example.org",
            client_port=443,
            ws_host="cdn.example.org",
        ),
    )
    from vpanel_core.models import Node

    with transaction(database.sessions) as session:
        user = create_user(session, NewUser(username="alice"))
        node = session.get(Node, node_id)
        assert node is not None
        proxy = client_proxy(node, node.inbounds[0], user)
    assert (proxy.server, proxy.port, proxy.host) == ("cdn.example.org", 443, "cdn.example.org")
    assert proxy.tls is not None and proxy.tls.server_name == "cdn.example.org"


def test_same_port_same_l4_protocol_is_a_validation_error(database: Database, node_id) -> None:
    add(database, node_id, NewInbound("tr", "trojan", 443))
    add(database, node_id, NewInbound("hy2", "hysteria2", 443))  # udp next to tcp: fine

    with pytest.raises(ValidationError, match="already used by inbound 'tr'"):
        add(database, node_id, NewInbound("vl", "vless", 443))
    with pytest.raises(ValidationError, match="already used by inbound 'hy2'"):
        add(database, node_id, NewInbound("tuic", "tuic", 443))
    with pytest.raises(ValidationError, match="already used"):
        add(database, node_id, NewInbound("ss", "shadowsocks", 443))
    with pytest.raises(ValidationError, match="API port"):
        add(database, node_id, NewInbound("api", "trojan", 9999))
    assert count(database) == 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (NewInbound("x", "trojan", 1, tls_mode="none"), "trojan needs tls_mode tls"),
        (NewInbound("x", "shadowsocks", 1, tls_mode="tls"), "without TLS"),
        (NewInbound("x", "shadowsocks", 1, method="aes-128-gcm"), "2022 method"),
        (NewInbound("x", "vless", 1, tls_mode="reality"), "REALITY needs sni"),
        (NewInbound("x", "vmess", 1, tls_mode="reality", sni="a.com"), "VLESS over raw TCP"),
        (NewInbound("x", "hysteria2", 1, transport="ws"), "no ws transport"),
        (NewInbound("x", "vless", 1, transport="grpc", flow="xtls-rprx-vision"), "flow"),
        (NewInbound("x", "wireguard", 1), "unknown protocol"),
        (NewInbound("x y", "trojan", 1), "tag"),
        (NewInbound("x", "trojan", 70000), "listen port"),
    ],
)
def test_impossible_inbounds_are_refused_and_nothing_is_stored(
    database: Database, node_id, spec: NewInbound, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        add(database, node_id, spec)
    assert count(database) == 0


def test_duplicate_tag_is_a_conflict(database: Database, node_id) -> None:
    add(database, node_id, NewInbound("tr", "trojan", 443))
    with pytest.raises(Conflict):
        add(database, node_id, NewInbound("tr", "anytls", 8443))
