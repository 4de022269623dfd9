"""Collect a node's usage journal, then give it a fresh entitlements file, over one SSH link.

Collect first so the file's `as_of_seq` and remaining shares include everything the node
journaled: the node then enforces from exactly where the desktop's count stops. Used by
the desktop's "Collect usage" action and `vpanel node collect` alike; workers get plain
data (`NodeLink`), never a session.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vpanel_core.db import transaction
from vpanel_core.models import Node, User
from vpanel_core.nodes.ssh import CONNECT_TIMEOUT, SshSession, SshTarget
from vpanel_core.secretbox import SecretBox, is_sealed
from vpanel_core.usage import entitlements_file
from vpanel_core.usage.collect import CollectReport, NodeJournal, collect_node


@dataclass(frozen=True, slots=True)
class NodeLink:
    node_id: uuid.UUID
    name: str
    target: SshTarget
    remote_dir: str

    @property
    def journal(self) -> NodeJournal:
        """Where bootstrap installed the helper and where the supervisor journals."""
        return NodeJournal(f"{self.remote_dir}/lib", f"{self.remote_dir}/usage")


def node_links(
    session: Session,
    box: SecretBox,
    names: Sequence[str] = (),
    connect_timeout: float = CONNECT_TIMEOUT,
) -> list[NodeLink]:
    """Enabled nodes (all, or those named), SSH keys opened in memory for the workers."""
    query = select(Node).where(Node.enabled.is_(True)).order_by(Node.name)
    if names:
        query = query.where(Node.name.in_(list(names)))
    links = []
    for node in session.scalars(query):
        target = SshTarget.from_node(node, connect_timeout)
        if is_sealed(target.key_ref):
            target = replace(target, key_ref=box.open(target.key_ref))
        links.append(NodeLink(node.id, node.name, target, node.remote_dir))
    return links


def entitlements_for(session: Session, node_id: uuid.UUID) -> dict[str, Any]:
    """The node's file: every user allowed on it (inactive ones are told to stop now)."""
    nodes = session.scalars(select(Node).where(Node.enabled.is_(True))).all()
    node = session.get(Node, node_id)
    if node is None:
        return entitlements_file.build(session, node_id, [], {})
    allowed = [
        u
        for u in session.scalars(select(User).order_by(User.id))
        if not u.node_groups or node.group in u.node_groups
    ]
    nodes_of_user = {
        u.id: [n.id for n in nodes if not u.node_groups or n.group in u.node_groups]
        for u in allowed
    }
    return entitlements_file.build(session, node_id, allowed, nodes_of_user)


def collect_and_refresh(sessions: sessionmaker[Session], link: NodeLink) -> CollectReport:
    """Raises `NodeError` subclasses when the node cannot be reached or read."""
    with SshSession(link.target) as ssh:
        report = collect_node(ssh, sessions, link.node_id, link.journal)
        with transaction(sessions) as session:
            payload = entitlements_for(session, link.node_id)
        entitlements_file.push(ssh, f"{link.remote_dir}/entitlements.json", payload)
    return report
