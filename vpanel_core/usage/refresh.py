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
import typing
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vpanel_core.batching import paused_gc
from vpanel_core.db import transaction
from vpanel_core.models import Node, UsageCursor, User
from vpanel_core.nodes.errors import NodeError
from vpanel_core.nodes.ssh import CONNECT_TIMEOUT, SshSession, SshTarget
from vpanel_core.secretbox import SecretBox, is_sealed
from vpanel_core.services.ledger import EntitledParty
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
from vpanel_core.usage.shares import allowed_nodes, allowed_on

Groups = tuple[str, ...]  # a user's node groups, sorted; empty: every node


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


@dataclass(frozen=True, slots=True)
class EntitlementFiles:
    """Every node's entitlements file from one derivation for the fleet; each file is put
    together when asked, as 100,000 users' entries are ~30 MB of objects per node."""

    terms: entitlements_file.Terms
    users: list[tuple[Groups, entitlements_file.UserTerms]]  # each user's node groups
    nodes: dict[uuid.UUID, tuple[frozenset[Groups], int]]  # group sets allowed, `as_of_seq`

    def payload(self, node_id: uuid.UUID) -> dict[str, Any]:
        """The node's file: every user allowed on it (inactive ones are told to stop now)."""
        allowed, as_of_seq = self.nodes.get(node_id, (frozenset(), 0))
        chosen = (terms for groups, terms in self.users if groups in allowed)
        return self.terms.file(node_id, chosen, as_of_seq)


@paused_gc()
def entitlement_files(
    session: Session, node_ids: Sequence[uuid.UUID], now: datetime | None = None
) -> EntitlementFiles:
    """The files of these nodes: users, ledger, grants and last nodes are read and derived
    once for the fleet, so each file costs only picking its users and their share."""
    asked = session.execute(  # `as_of_seq` before the usage: never ahead of it (`derive`)
        select(Node.id, Node.group, UsageCursor.applied_seq)
        .outerjoin(UsageCursor, UsageCursor.node_id == Node.id)
        .where(Node.id.in_(node_ids))
    ).all()
    enabled = [
        (node, group)
        for node, group in session.execute(
            select(Node.id, Node.group).where(Node.enabled.is_(True))
        )
    ]
    # A node disabled since its link was made still gets its file; a user allowed on no
    # enabled node keeps the whole remaining there.
    fallback = [(node, group) for node, group, _ in asked]
    rows = session.execute(
        select(User.id, User.enabled, User.reset_strategy, User.node_groups).order_by(User.id)
    ).all()
    groups_of = {row.id: tuple(sorted(row.node_groups or ())) for row in rows}
    peers = {  # a few group sets for 100,000 users
        groups: tuple(allowed_nodes(groups, enabled) or allowed_nodes(groups, fallback))
        for groups in set(groups_of.values())
    }
    terms = entitlements_file.derive(
        session,
        typing.cast(Sequence[EntitledParty], rows),
        {user: peers[groups] for user, groups in groups_of.items()},
        now,
    )
    return EntitlementFiles(
        terms,
        [(groups_of[user], user_terms) for user, user_terms in terms.users.items()],
        {
            node: (frozenset(g for g in peers if allowed_on(g, group)), seq or 0)
            for node, group, seq in asked
        },
    )


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
        files = entitlement_files(session, [link.node_id for link in links])
    building = threading.Lock()

    def push(link: NodeLink) -> None:
        on_progress(link.name, State.RUNNING, "refreshing entitlements")
        with building:  # one file's objects at a time, not one per worker
            data = entitlements_file.encode(files.payload(link.node_id))
        path = f"{link.remote_dir}/entitlements.json"
        entitlements_file.push(shells[link.node_id], path, data)

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
