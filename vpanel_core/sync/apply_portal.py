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
from vpanel_core.sync.rows import count, load, split, table_of, upsert, write_table

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
    """Apply one publication (see `publication.empty`) in the caller's transaction;
    returns counts per kind."""
    with capture.quiet(session):
        _delete(session, body.get("deleted", {}))
        _plans(session, body.get("plans", []))
        _nodes(session, body.get("nodes", []))
        _users(session, body, seen_event_seq)
        _usage(session, body.get("usage") or {})
    return {
        "plans": len(body.get("plans", [])),
        "nodes": len(body.get("nodes", [])),
        "users": count(table_of(body, "users")),
        "usage": usage_rows.rows_in(body.get("usage") or {}),
    }


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


def _users(session: Session, body: dict[str, Any], seen_event_seq: int) -> None:
    """Users, then what refers to them: their subscriptions and grants."""
    recent = _recent_plan_purchases(session, seen_event_seq)
    guarded, fresh = split(table_of(body, "users"), "id", recent)
    write_table(session, User, fresh, update=OPERATOR_USER_FIELDS)
    keep_plan = [f for f in OPERATOR_USER_FIELDS if f not in PLAN_FIELDS]
    write_table(session, User, guarded, update=keep_plan)
    write_table(session, Subscription, table_of(body, "subscriptions"))
    write_table(session, Grant, table_of(body, "grants"))


def _recent_plan_purchases(session: Session, seen_event_seq: int) -> set[str]:
    """Users (canonical id text) with a plan purchase the desktop had not seen yet.

    Few: the desktop pulls events right before it publishes.
    """
    query = select(SyncEvent.user_id).where(
        SyncEvent.seq > seen_event_seq, SyncEvent.kind == "plan_applied"
    )
    return {str(u) for u in session.scalars(query) if u is not None}


def _usage(session: Session, usage: dict[str, Any]) -> None:
    usage_rows.apply(session, usage)
