"""Nodes and their inbounds as the operator defines them."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from vpanel_core.errors import Conflict, NotFound, ValidationError
from vpanel_core.models import Inbound, Node
from vpanel_core.models.node import DEFAULT_API_PORT
from vpanel_core.nodes.inbound_secrets import NewInbound, inbound_settings
from vpanel_core.nodes.protocols import listen_networks
from vpanel_core.proxies import Protocol, Transport

__all__ = [
    "DEFAULT_REMOTE_DIR",
    "NewInbound",
    "NewNode",
    "add_inbound",
    "create_node",
    "find_node",
    "list_nodes",
]

DEFAULT_REMOTE_DIR = "/opt/vpanel-node"


@dataclass(frozen=True, slots=True)
class NewNode:
    name: str
    host: str
    ssh_port: int = 22
    ssh_user: str = "root"
    group: str = "default"
    country: str = ""
    ssh_key_ref: str = ""
    remote_dir: str = DEFAULT_REMOTE_DIR
    api_port: int = DEFAULT_API_PORT


def create_node(session: Session, spec: NewNode) -> Node:
    name, host = spec.name.strip(), spec.host.strip()
    if not name or len(name) > 64:
        raise ValidationError("node name must be 1-64 characters")
    if not host or len(host) > 255 or any(c.isspace() for c in host):
        raise ValidationError(f"invalid node host {spec.host!r}")
    if not 1 <= spec.ssh_port <= 65535:
        raise ValidationError(f"SSH port must be 1-65535, got {spec.ssh_port}")
    if not 1 <= spec.api_port <= 65535:
        raise ValidationError(f"API port must be 1-65535, got {spec.api_port}")
    if not spec.remote_dir.startswith("/") or any(c.isspace() for c in spec.remote_dir):
        raise ValidationError(f"remote directory must be an absolute path, got {spec.remote_dir!r}")
    if session.scalars(select(Node.id).where(Node.name == name)).first() is not None:
        raise Conflict(f"a node named {name!r} already exists")
    node = Node(
        name=name,
        host=host,
        ssh_port=spec.ssh_port,
        ssh_user=spec.ssh_user,
        group=spec.group,
        country=spec.country.upper()[:8],
        api_secret=secrets.token_urlsafe(32),
        ssh_key_ref=spec.ssh_key_ref,
        remote_dir=spec.remote_dir,
        api_port=spec.api_port,
    )
    session.add(node)
    session.flush()
    return node


def find_node(session: Session, ref: str) -> Node:
    try:
        node = session.get(Node, uuid.UUID(ref))
    except ValueError:
        node = session.scalars(select(Node).where(Node.name == ref)).first()
    if node is None:
        raise NotFound(f"no node {ref!r}")
    return node


def list_nodes(session: Session) -> Sequence[Node]:
    return session.scalars(
        select(Node).options(selectinload(Node.inbounds)).order_by(Node.name)
    ).all()


TAG_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def add_inbound(session: Session, node: Node, spec: NewInbound) -> Inbound:
    """Validate, generate the inbound's secrets and attach it to the node."""
    if not TAG_RE.match(spec.tag):
        raise ValidationError("inbound tag must be 1-64 letters, digits, '_', '.' or '-'")
    try:
        protocol, transport = Protocol(spec.protocol), Transport(spec.transport)
    except ValueError as exc:
        raise ValidationError(f"unknown protocol or transport: {exc}") from None
    if not 1 <= spec.listen_port <= 65535:
        raise ValidationError(f"listen port must be 1-65535, got {spec.listen_port}")
    if spec.client_port is not None and not 1 <= spec.client_port <= 65535:
        raise ValidationError(f"client port must be 1-65535, got {spec.client_port}")
    if any(existing.tag == spec.tag for existing in node.inbounds):
        raise Conflict(f"node {node.name!r} already has an inbound tagged {spec.tag!r}")
    _check_port_free(node, spec.listen_port, listen_networks(protocol), spec.tag)
    tls_mode, settings = inbound_settings(spec, protocol, transport, node.host)
    inbound = Inbound(
        node_id=node.id,
        tag=spec.tag,
        protocol=protocol.value,
        listen_port=spec.listen_port,
        transport=transport.value,
        path=spec.path or ("/" if transport in (Transport.WS, Transport.HTTPUPGRADE) else ""),
        service_name=spec.service_name or ("grpc" if transport is Transport.GRPC else ""),
        tls_mode=tls_mode,
        sni=spec.sni or (node.host if tls_mode == "tls" else ""),
        client_host=spec.client_host.strip(),
        client_port=spec.client_port,
        settings=settings,
        enabled=True,
    )
    node.inbounds.append(inbound)
    session.flush()
    return inbound


def _check_port_free(node: Node, port: int, networks: frozenset[str], tag: str) -> None:
    """Two listeners on one port and one L4 protocol cannot both start: refuse up front."""
    if port == node.api_port and "tcp" in networks:
        raise ValidationError(f"port {port} is the node's API port")
    for other in node.inbounds:
        shared = networks & listen_networks(other.protocol)
        if other.listen_port == port and shared:
            raise ValidationError(
                f"port {port}/{'+'.join(sorted(shared))} is already used by inbound "
                f"{other.tag!r}; {tag!r} needs another port",
                details={"port": port, "inbound": other.tag},
            )
