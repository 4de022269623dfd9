"""Collect the fleet's usage journals, then give every node a fresh entitlements file,
over one SSH link per node.

Collect first, all nodes, so each file's `as_of_seq` and remaining shares include
everything the fleet journaled: a node then enforces from exactly where the desktop's
count stops, with its share of what each user left on every node. Used by the desktop's
"Collect usage" action and `vpanel node collect` alike; workers get plain data
(`NodeLink`), never a session.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vpanel_core.db import transaction
from vpanel_core.models import Node, User
from vpanel_core.nodes.errors import NodeError
from vpanel_core.nodes.ssh import CONNECT_TIMEOUT, SshSession, SshTarget
from vpanel_core.secretbox import SecretBox, is_sealed
from vpanel_core.usage import entitlements_file
from vpanel_core.usage.collect import (
    MAX_WORKERS,
    PAGE_SIZE,
    CollectReport,
    JournalSource,
    NodeJournal,
    Progress,
    State,
    collect_fleet,
    on_each,
    quiet,
)


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


@dataclass(frozen=True, slots=True)
class NodeCollected:
    """How one node's collection and refresh ended."""

    link: NodeLink
    report: CollectReport
    error: NodeError | None = None  # what stopped it: link, read, ack or entitlements push
    refreshed: bool = False  # collected to the end and given a fresh entitlements file

    @property
    def state(self) -> State:
        if self.error is not None:
            return State.FAILED
        return State.OK if self.refreshed else State.CANCELLED

    @property
    def message(self) -> str:
        if self.error is not None:
            return self.error.message
        if self.refreshed:
            return f"{self.report.summary}, entitlements refreshed"
        return f"cancelled after {self.report.summary}" if self.report.pages else "cancelled"


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


def entitlement_files(
    session: Session, node_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Each node's file: every user allowed on it (inactive ones are told to stop now).
    Users and the nodes each may use are read once for the fleet, not once per node."""
    nodes = session.scalars(select(Node).where(Node.enabled.is_(True))).all()
    users = session.scalars(select(User).order_by(User.id)).all()
    nodes_of_user = {
        u.id: [n.id for n in nodes if not u.node_groups or n.group in u.node_groups] for u in users
    }
    files: dict[uuid.UUID, dict[str, Any]] = {}
    for node_id in node_ids:
        node = session.get(Node, node_id)
        allowed = (
            [u for u in users if not u.node_groups or node.group in u.node_groups]
            if node is not None
            else []
        )
        files[node_id] = entitlements_file.build(session, node_id, allowed, nodes_of_user)
    return files


def _connect(
    links: Sequence[NodeLink], on_progress: Progress, max_workers: int
) -> tuple[dict[uuid.UUID, SshSession], dict[uuid.UUID, CollectReport]]:
    """Open every link in parallel: the sessions, and a report for each node that failed."""

    def connect(link: NodeLink) -> SshSession:
        on_progress(link.name, State.RUNNING, "connecting")
        return SshSession(link.target)

    shells: dict[uuid.UUID, SshSession] = {}
    failed: dict[uuid.UUID, CollectReport] = {}
    for link, opened in zip(links, on_each(connect, links, max_workers), strict=True):
        if isinstance(opened, NodeError):
            failed[link.node_id] = CollectReport(error=opened)
            on_progress(link.name, State.FAILED, opened.message)
        else:
            shells[link.node_id] = opened
    return shells, failed


def _refresh(
    sessions: sessionmaker[Session],
    links: Sequence[NodeLink],
    shells: dict[uuid.UUID, SshSession],
    on_progress: Progress,
    max_workers: int,
) -> dict[uuid.UUID, NodeError | None]:
    """Push each node its entitlements file over its open link: the error of each push."""
    with transaction(sessions) as session:
        payloads = entitlement_files(session, [link.node_id for link in links])

    def push(link: NodeLink) -> None:
        on_progress(link.name, State.RUNNING, "refreshing entitlements")
        path = f"{link.remote_dir}/entitlements.json"
        entitlements_file.push(shells[link.node_id], path, payloads[link.node_id])

    pushed = on_each(push, links, max_workers)
    return {link.node_id: got for link, got in zip(links, pushed, strict=True)}


def collect_and_refresh(
    sessions: sessionmaker[Session],
    links: Sequence[NodeLink],
    *,
    page_size: int = PAGE_SIZE,
    on_progress: Progress = quiet,
    cancel: threading.Event | None = None,
    max_workers: int = MAX_WORKERS,
) -> list[NodeCollected]:
    """One result per link, in link order: a node that fails (`NodeError`) is reported in
    its own result while the others are collected and refreshed all the same. A node
    still behind when `cancel` stops the rounds gets no file (it has more to send)."""
    shells, reports = _connect(links, on_progress, max_workers)
    try:
        sources = [
            JournalSource(link.node_id, link.name, shells[link.node_id], link.journal)
            for link in links
            if link.node_id in shells
        ]
        reports |= collect_fleet(
            sources,
            sessions,
            page_size=page_size,
            on_progress=on_progress,
            cancel=cancel,
            max_workers=max_workers,
        )
        caught_up = [link for link in links if reports[link.node_id].caught_up]
        pushed = _refresh(sessions, caught_up, shells, on_progress, max_workers)
    finally:
        for shell in shells.values():
            shell.close()
    done = []
    for link in links:
        report = reports[link.node_id]
        failure = pushed.get(link.node_id)
        outcome = NodeCollected(
            link,
            report,
            failure if failure is not None else report.error,
            refreshed=link.node_id in pushed and failure is None,
        )
        if report.error is None:  # a collection failure was reported when it happened
            on_progress(link.name, outcome.state, outcome.message)
        done.append(outcome)
    return done
