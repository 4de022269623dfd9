"""Protocol facts the server side needs: which L4 networks an inbound listens on."""

from __future__ import annotations

from vpanel_core.proxies import Protocol

UDP_ONLY = frozenset({Protocol.HYSTERIA2, Protocol.TUIC})
TCP_AND_UDP = frozenset({Protocol.SHADOWSOCKS})


def listen_networks(protocol: Protocol | str) -> frozenset[str]:
    """The sockets sing-box opens for this protocol: two inbounds clash if these overlap."""
    proto = Protocol(protocol)
    if proto in UDP_ONLY:
        return frozenset({"udp"})
    if proto in TCP_AND_UDP:
        return frozenset({"tcp", "udp"})
    return frozenset({"tcp"})
