"""What a client sees of an inbound: Inbound row + user → ClientProxy.

`Inbound.settings` keys used here (written by the node layer when it generates
secrets): ``reality_public_key``, ``short_ids``, ``fingerprint``, ``flow``, ``method``,
``server_psk``, ``obfs_password``, ``congestion_control``, ``alpn``, ``self_signed``.
"""

from __future__ import annotations

from collections.abc import Iterable

from vpanel_core.credentials import ss2022_user_key, user_password
from vpanel_core.models import Inbound, Node, User
from vpanel_core.proxies import ClientProxy, Protocol, Tls, Transport

DEFAULT_ALPN = {Protocol.HYSTERIA2: ("h3",), Protocol.TUIC: ("h3",)}


def client_tls(inbound: Inbound, protocol: Protocol) -> Tls | None:
    settings = inbound.settings or {}
    if inbound.tls_mode == "none":
        return None
    alpn: tuple[str, ...] = tuple(settings.get("alpn") or ()) or DEFAULT_ALPN.get(protocol, ())
    if inbound.tls_mode == "reality":
        short_ids = settings.get("short_ids") or [""]
        return Tls(
            server_name=inbound.sni,
            fingerprint=settings.get("fingerprint", "chrome"),
            reality_public_key=settings["reality_public_key"],
            reality_short_id=short_ids[0],
        )
    return Tls(
        server_name=inbound.sni,
        insecure=bool(settings.get("self_signed", False)),
        alpn=alpn,
        fingerprint=settings.get("fingerprint", ""),
    )


def client_proxy(node: Node, inbound: Inbound, user: User) -> ClientProxy:
    protocol = Protocol(inbound.protocol)
    settings = inbound.settings or {}
    password = user_password(user.proxy_secret)
    method = ""
    if protocol is Protocol.SHADOWSOCKS:
        method = settings["method"]
        password = f"{settings['server_psk']}:{ss2022_user_key(user.proxy_secret, method)}"
    return ClientProxy(
        id=str(inbound.id),
        name=f"{node.name}-{inbound.tag}",
        protocol=protocol,
        server=inbound.client_host or node.host,
        port=inbound.client_port or inbound.listen_port,
        uuid=str(user.credential),
        password=password,
        method=method,
        flow=settings.get("flow", ""),
        transport=Transport(inbound.transport),
        path=inbound.path,
        host=settings.get("ws_host", ""),
        service_name=inbound.service_name,
        tls=client_tls(inbound, protocol),
        obfs_password=settings.get("obfs_password", ""),
        congestion_control=settings.get("congestion_control", "bbr"),
        country=node.country,
        enabled=node.enabled and inbound.enabled,
    )


def user_proxies(nodes: Iterable[Node], user: User) -> list[ClientProxy]:
    """Every enabled inbound of every node in the user's node groups (all if none set)."""
    groups = set(user.node_groups or [])
    return [
        client_proxy(node, inbound, user)
        for node in nodes
        if node.enabled and (not groups or node.group in groups)
        for inbound in node.inbounds
        if inbound.enabled
    ]
