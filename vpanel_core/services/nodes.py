"""Nodes and their inbounds as the operator defines them."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from vpanel_core.errors import Conflict, NotFound, ValidationError
from vpanel_core.models import Node


@dataclass(frozen=True, slots=True)
class NewNode:
    name: str
    host: str
    ssh_port: int = 22
    ssh_user: str = "root"
    group: str = "default"
    country: str = ""


def create_node(session: Session, spec: NewNode) -> Node:
    name, host = spec.name.strip(), spec.host.strip()
    if not name or len(name) > 64:
        raise ValidationError("node name must be 1-64 characters")
    if not host or len(host) > 255 or any(c.isspace() for c in host):
        raise ValidationError(f"invalid node host {spec.host!r}")
    if not 1 <= spec.ssh_port <= 65535:
        raise ValidationError(f"SSH port must be 1-65535, got {spec.ssh_port}")
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
