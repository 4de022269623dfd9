"""Push to many nodes at once: render in one short transaction, push in parallel threads
without holding the database, record the results in another short transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from vpanel_core.db import transaction
from vpanel_core.models import Node
from vpanel_core.nodes import server_config
from vpanel_core.nodes.push import (
    RELOAD_TIMEOUT,
    RETRIES,
    Outcome,
    ProgressCallback,
    PushJob,
    PushResult,
    push_one,
)
from vpanel_core.nodes.ssh import CONNECT_TIMEOUT, SshTarget
from vpanel_core.sync.models import SyncPeer
from vpanel_core.sync.node_tokens import pull_token
from vpanel_core.sync.pairing import PORTAL
from vpanel_core.timeutil import utcnow

MAX_WORKERS = 16
PULL_INTERVAL = 15.0


def portal_settings(session: Session, node: Node, interval: float = PULL_INTERVAL) -> bytes | None:
    """The node's portal.json (offline activation), or None while no portal is paired:
    only the paired portal knows the node's pull token (published with the node)."""
    peer = session.get(SyncPeer, PORTAL)
    if peer is None or not node.api_secret:
        return None
    flows = {
        i.tag: str(i.settings["flow"])
        for i in node.inbounds
        if i.protocol == "vless" and (i.settings or {}).get("flow")
    }
    data = {
        "url": peer.url,
        "node_id": str(node.id),
        "token": pull_token(node.api_secret),
        "interval": interval,
        "flows": flows,
    }
    return json.dumps(data, sort_keys=True).encode()


def prepare_jobs(
    session: Session,
    nodes: Sequence[Node],
    connect_timeout: float = CONNECT_TIMEOUT,
    pull_interval: float = PULL_INTERVAL,
) -> list[PushJob]:
    users = server_config.entitled_users_by_node(session, nodes)
    jobs = []
    for node in nodes:
        config = server_config.render_bytes(node, users[node.id])
        jobs.append(
            PushJob(
                node_id=str(node.id),
                node_name=node.name,
                target=SshTarget.from_node(node, connect_timeout),
                remote_dir=node.remote_dir,
                config=config,
                version=server_config.config_version(config),
                portal_settings=portal_settings(session, node, pull_interval),
            )
        )
    return jobs


def push_all(
    jobs: Sequence[PushJob],
    *,
    on_progress: ProgressCallback | None = None,
    max_workers: int = MAX_WORKERS,
    retries: int = RETRIES,
    reload_timeout: float = RELOAD_TIMEOUT,
) -> list[PushResult]:
    """One result per job, in job order; a slow or dead node only costs its own thread."""
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(max_workers, len(jobs))) as pool:
        futures = [
            pool.submit(
                push_one,
                job,
                on_progress=on_progress,
                retries=retries,
                reload_timeout=reload_timeout,
            )
            for job in jobs
        ]
        return [future.result() for future in futures]


def record_results(session: Session, results: Iterable[PushResult]) -> None:
    now = utcnow()
    for result in results:
        node = session.get(Node, uuid.UUID(result.node_id))
        if node is None:
            continue
        if result.outcome is not Outcome.FAILED:
            node.config_version = result.version
        node.last_push_at = now
        node.last_push_result = json.dumps(result.summary(), sort_keys=True)


def push_nodes(
    factory: sessionmaker[Session],
    node_ids: Iterable[uuid.UUID] | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    max_workers: int = MAX_WORKERS,
    connect_timeout: float = CONNECT_TIMEOUT,
    retries: int = RETRIES,
    reload_timeout: float = RELOAD_TIMEOUT,
    pull_interval: float = PULL_INTERVAL,
) -> list[PushResult]:
    """Render, push and record for the enabled nodes (all of them, or those in node_ids)."""
    with transaction(factory) as session:
        query = select(Node).options(selectinload(Node.inbounds)).where(Node.enabled.is_(True))
        if node_ids is not None:
            query = query.where(Node.id.in_(list(node_ids)))
        nodes = session.scalars(query.order_by(Node.name)).all()
        jobs = prepare_jobs(session, nodes, connect_timeout, pull_interval)
    results = push_all(
        jobs,
        on_progress=on_progress,
        max_workers=max_workers,
        retries=retries,
        reload_timeout=reload_timeout,
    )
    with transaction(factory) as session:
        record_results(session, results)
    return results
