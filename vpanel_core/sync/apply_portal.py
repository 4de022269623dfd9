"""Portal side: apply a desktop publication (upserts + union), by field ownership.

Operator-owned (desktop wins): plans, nodes and inbounds entirely; on users
`username, notes, role, enabled, credential, proxy_secret, reset_strategy, node_groups,
plan_id`. Customer-owned (portal wins once the user exists here): `email,
email_verified, password_hash, alias, locale` and the subscription token. Grants are
unions (insert if absent); usage rollups mirror the desktop's. Plan fields are kept
when the portal has a plan purchase for the user newer than the last portal event the
desktop had seen.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vpanel_core.models import Grant, Inbound, Node, Plan, Subscription, User
from vpanel_core.sync import capture, usage_rows
from vpanel_core.sync.events import PLAN_FIELDS
from vpanel_core.sync.models import NodeCredential, SyncEvent
from vpanel_core.sync.publication import INBOUND_COLUMNS, NODE_COLUMNS
from vpanel_core.sync.rows import load, upsert

OPERATOR_USER_FIELDS = (
    "username",
    "notes",
    "role",
    "enabled",
    "credential",
    "proxy_secret",
    "updated_at",
    *PLAN_FIELDS,
)


def apply(session: Session, body: dict[str, Any], seen_event_seq: int) -> dict[str, int]:
    """Apply one publication in the caller's transaction; returns counts per kind."""
    with capture.quiet(session):
        _delete(session, body.get("deleted", {}))
        _plans(session, body.get("plans", []))
        _nodes(session, body.get("nodes", []))
        _users(session, body.get("users", []), seen_event_seq)
        _usage(session, body.get("usage", []))
    return {k: len(body.get(k, [])) for k in ("plans", "nodes", "users", "usage")}


def _ids(values: Iterable[str]) -> list[uuid.UUID]:
    return [uuid.UUID(v) for v in values]


def _delete(session: Session, deleted: dict[str, list[str]]) -> None:
    for model, key in ((User, "user"), (Node, "node"), (Plan, "plan")):
        ids = _ids(deleted.get(key, []))
        if ids:
            session.execute(delete(model).where(model.id.in_(ids)))
    node_ids = _ids(deleted.get("node", []))
    if node_ids:
        session.execute(delete(NodeCredential).where(NodeCredential.node_id.in_(node_ids)))


def _plans(session: Session, plans: list[dict[str, Any]]) -> None:
    rows = [load(Plan, p) for p in plans]
    columns = [c.name for c in Plan.__table__.columns if c.name != "id"]
    upsert(session, Plan, rows, update=columns)


def _nodes(session: Session, nodes: list[dict[str, Any]]) -> None:
    if not nodes:
        return
    columns = [*NODE_COLUMNS, "last_push_at"]
    upsert(session, Node, [load(Node, n) for n in nodes], update=[c for c in columns if c != "id"])
    inbounds = [
        load(Inbound, {**i, "settings": i["settings"]}) for n in nodes for i in n["inbounds"]
    ]
    keep = {row["id"] for row in inbounds}
    node_ids = _ids(n["id"] for n in nodes)
    stale = select(Inbound.id).where(Inbound.node_id.in_(node_ids))
    gone = [i for i in session.scalars(stale) if i not in keep]
    if gone:
        session.execute(delete(Inbound).where(Inbound.id.in_(gone)))
    update = [c for c in (*INBOUND_COLUMNS, "settings") if c != "id"]
    upsert(session, Inbound, inbounds, update=update)
    tokens = [
        {"node_id": uuid.UUID(n["id"]), "token_hash": n["pull_token_hash"]}
        for n in nodes
        if n.get("pull_token_hash")
    ]
    upsert(session, NodeCredential, tokens, update=["token_hash"])


def _users(session: Session, users: list[dict[str, Any]], seen_event_seq: int) -> None:
    if not users:
        return
    rows = [load(User, u) for u in users]  # `subscription` / `grants` are not columns: dropped
    recent = _recent_plan_purchases(session, [r["id"] for r in rows], seen_event_seq)
    fresh = [r for r in rows if r["id"] not in recent]
    guarded = [r for r in rows if r["id"] in recent]
    upsert(session, User, fresh, update=OPERATOR_USER_FIELDS)
    keep_plan = [f for f in OPERATOR_USER_FIELDS if f not in PLAN_FIELDS]
    upsert(session, User, guarded, update=keep_plan)
    subs = [load(Subscription, u["subscription"]) for u in users if u.get("subscription")]
    upsert(session, Subscription, subs)
    grants = [load(Grant, g) for u in users for g in u.get("grants", [])]
    upsert(session, Grant, grants)


def _recent_plan_purchases(
    session: Session, ids: list[uuid.UUID], seen_event_seq: int
) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    for start in range(0, len(ids), 900):
        query = select(SyncEvent.user_id).where(
            SyncEvent.seq > seen_event_seq,
            SyncEvent.kind == "plan_applied",
            SyncEvent.user_id.in_(ids[start : start + 900]),
        )
        found.update(u for u in session.scalars(query) if u is not None)
    return found


def _usage(session: Session, usage: list[dict[str, Any]]) -> None:
    usage_rows.apply(session, usage)
