"""A node's complete sing-box 1.14 server config, rendered deterministically.

Same inputs → same bytes → same `config_version`, so a push can tell "nothing changed"
without touching the node. Users are the ones entitled now (status active) whose node
groups include this node's group, named by `inbound_user_name` so sing-box's connection
events carry the accounting key.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vpanel_core.client_view import DEFAULT_ALPN
from vpanel_core.credentials import inbound_user_name, ss2022_user_key, user_password
from vpanel_core.entitlement import Status
from vpanel_core.models import Inbound, Node, User
from vpanel_core.proxies import Protocol
from vpanel_core.services import ledger

DEFAULT_LISTEN = "::"
API_TAG = "vpanel-api"
# SS2022 with no users silently falls back to single-user mode keyed by the server PSK,
# which every client knows; a user nobody holds keeps multi-user mode (and the door shut).
SS_PLACEHOLDER = "vpanel-no-users"


def entitled_users_by_node(session: Session, nodes: Sequence[Node]) -> dict[uuid.UUID, list[User]]:
    """Users who may use each node now: active entitlement and a matching node group
    (the rule `client_view.user_proxies` applies), with one entitlement pass for all."""
    users = session.scalars(select(User).where(User.enabled.is_(True))).all()
    status = ledger.entitlements(session, users)
    active = [u for u in users if status[u.id].status is Status.ACTIVE]
    return {
        node.id: [u for u in active if not u.node_groups or node.group in u.node_groups]
        for node in nodes
    }


def entitled_users(session: Session, node: Node) -> list[User]:
    return entitled_users_by_node(session, [node])[node.id]


def _tls(inbound: Inbound, protocol: Protocol) -> dict[str, Any] | None:
    settings = inbound.settings
    if inbound.tls_mode == "none":
        return None
    if inbound.tls_mode == "reality":
        return {
            "enabled": True,
            "server_name": settings["handshake_server"],
            "reality": {
                "enabled": True,
                "handshake": {
                    "server": settings["handshake_server"],
                    "server_port": settings.get("handshake_port", 443),
                },
                "private_key": settings["reality_private_key"],
                "short_id": list(settings["short_ids"]),
            },
        }
    tls: dict[str, Any] = {"enabled": True, "server_name": inbound.sni}
    alpn = settings.get("alpn") or DEFAULT_ALPN.get(protocol)
    if alpn:
        tls["alpn"] = list(alpn)
    if settings.get("acme_email"):
        tls["certificate_provider"] = acme_tag(inbound)
    else:
        tls["certificate"] = settings["certificate_pem"]
        tls["key"] = settings["key_pem"]
    return tls


def acme_tag(inbound: Inbound) -> str:
    return f"acme-{inbound.tag}"


def _certificate_providers(inbounds: Sequence[Inbound]) -> list[dict[str, Any]]:
    """1.14 moved ACME out of inline TLS into shared certificate providers."""
    return [
        {
            "type": "acme",
            "tag": acme_tag(inbound),
            "domain": [inbound.sni],
            "email": inbound.settings["acme_email"],
            "data_directory": "acme",
        }
        for inbound in inbounds
        if inbound.tls_mode == "tls" and inbound.settings.get("acme_email")
    ]


def _transport(inbound: Inbound) -> dict[str, Any] | None:
    if inbound.transport == "ws":
        return {"type": "ws", "path": inbound.path or "/"}
    if inbound.transport == "grpc":
        return {"type": "grpc", "service_name": inbound.service_name}
    if inbound.transport == "httpupgrade":
        return {"type": "httpupgrade", "path": inbound.path or "/"}
    return None


def _user(protocol: Protocol, inbound: Inbound, user: User) -> dict[str, Any]:
    name = inbound_user_name(user.id)
    if protocol is Protocol.VLESS:
        entry = {"name": name, "uuid": str(user.credential)}
        flow = inbound.settings.get("flow", "")
        return {**entry, "flow": flow} if flow else entry
    if protocol is Protocol.VMESS:
        return {"name": name, "uuid": str(user.credential), "alterId": 0}
    if protocol is Protocol.TUIC:
        return {
            "name": name,
            "uuid": str(user.credential),
            "password": user_password(user.proxy_secret),
        }
    if protocol is Protocol.SHADOWSOCKS:
        method = inbound.settings["method"]
        return {"name": name, "password": ss2022_user_key(user.proxy_secret, method)}
    return {"name": name, "password": user_password(user.proxy_secret)}


def render_inbound(inbound: Inbound, users: Sequence[User], node: Node) -> dict[str, Any]:
    protocol = Protocol(inbound.protocol)
    settings = inbound.settings
    entries = sorted((_user(protocol, inbound, u) for u in users), key=lambda e: e["name"])
    result: dict[str, Any] = {
        "type": protocol.value,
        "tag": inbound.tag,
        "listen": settings.get("listen", DEFAULT_LISTEN),
        "listen_port": inbound.listen_port,
    }
    if protocol is Protocol.SHADOWSOCKS:
        result["method"] = settings["method"]
        result["password"] = settings["server_psk"]
        if not entries:
            seed = hashlib.sha256(f"{node.api_secret}:{inbound.id}".encode()).hexdigest()
            entries = [
                {"name": SS_PLACEHOLDER, "password": ss2022_user_key(seed, settings["method"])}
            ]
    result["users"] = entries
    if protocol is Protocol.HYSTERIA2 and settings.get("obfs_password"):
        result["obfs"] = {"type": "salamander", "password": settings["obfs_password"]}
    if protocol is Protocol.TUIC:
        result["congestion_control"] = settings.get("congestion_control", "bbr")
    tls = _tls(inbound, protocol)
    if tls is not None:
        result["tls"] = tls
    transport = _transport(inbound)
    if transport is not None:
        result["transport"] = transport
    return result


def render(node: Node, users: Sequence[User]) -> dict[str, Any]:
    """The full server config as a dict (see `render_bytes` for what gets pushed)."""
    inbounds = sorted((i for i in node.inbounds if i.enabled), key=lambda i: (i.listen_port, i.tag))
    rules: list[dict[str, Any]] = []
    if not node.allow_private_targets:
        rules = [{"action": "resolve"}, {"ip_is_private": True, "action": "reject"}]
    config: dict[str, Any] = {
        "log": {"level": "warn", "timestamp": True},
        "inbounds": [render_inbound(i, users, node) for i in inbounds],
        "outbounds": [{"type": "direct", "tag": "direct"}],
        "route": {"rules": rules, "final": "direct"},
        "services": [
            {
                "type": "api",
                "tag": API_TAG,
                "listen": "127.0.0.1",
                "listen_port": node.api_port,
                "secret": node.api_secret,
            }
        ],
        # The api service's connection tracking needs the Clash API's traffic manager;
        # without an external_controller it opens no port.
        "experimental": {"clash_api": {}},
    }
    providers = _certificate_providers(inbounds)
    if providers:
        config["certificate_providers"] = providers
    return config


def render_bytes(node: Node, users: Sequence[User]) -> bytes:
    return (json.dumps(render(node, users), indent=2, sort_keys=True) + "\n").encode()


def config_version(config: bytes) -> str:
    return hashlib.sha256(config).hexdigest()
