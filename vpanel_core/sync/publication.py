"""Desktop side: what the portal needs, as snapshot pages and as deltas since a version.

Never published: SSH keys and host keys, node API secrets (only the hash of the
node's pull token), inbound server-side secrets (private keys, certificates) — an
inbound carries only the settings `client_view` reads.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from vpanel_core import settings
from vpanel_core.batching import batches
from vpanel_core.models import Grant, Inbound, Node, Plan, Subscription, User
from vpanel_core.sync import changes, usage_rows
from vpanel_core.sync.node_tokens import pull_token, token_hash
from vpanel_core.sync.rows import dump, dumper
from vpanel_core.timeutil import utcnow

NODE_COLUMNS = ("id", "name", "host", "group", "country", "labels", "enabled", "created_at")
INBOUND_COLUMNS = (
    "id",
    "node_id",
    "tag",
    "protocol",
    "listen_port",
    "transport",
    "path",
    "service_name",
    "tls_mode",
    "sni",
    "client_host",
    "client_port",
    "enabled",
)
CLIENT_SETTINGS = frozenset(
    {
        "reality_public_key",
        "short_ids",
        "fingerprint",
        "flow",
        "method",
        "server_psk",
        "obfs_password",
        "congestion_control",
        "alpn",
        "self_signed",
        "ws_host",
    }
)
IN_CLAUSE = 900


def empty(kind: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "plans": [],
        "nodes": [],
        "users": [],
        "usage": [],
        "deleted": {"user": [], "plan": [], "node": []},
    }


def node_payload(node: Node) -> dict[str, Any]:
    data = dump(node, Node, NODE_COLUMNS)
    data["last_push_at"] = (node.last_push_at or node.created_at).isoformat()
    data["inbounds"] = [
        {
            **dump(inbound, Inbound, INBOUND_COLUMNS),
            "settings": {k: v for k, v in (inbound.settings or {}).items() if k in CLIENT_SETTINGS},
        }
        for inbound in node.inbounds
    ]
    data["pull_token_hash"] = token_hash(pull_token(node.api_secret)) if node.api_secret else ""
    return data


def users_payload(session: Session, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    """Each user with its subscription and every grant (grants per user are few).

    Plain column reads, no ORM objects: a snapshot reads 100,000 users this way.
    """
    users, subs, grants = User.__table__, Subscription.__table__, Grant.__table__
    result: list[dict[str, Any]] = []
    for chunk in batches(ids, IN_CLAUSE):
        result.extend(
            _assemble(
                session.execute(select(users).where(users.c.id.in_(chunk))),
                session.execute(select(subs).where(subs.c.user_id.in_(chunk))),
                session.execute(select(grants).where(grants.c.user_id.in_(chunk))),
            )
        )
    return result


def _assemble(
    users: Iterable[Sequence[Any]], subs: Iterable[Sequence[Any]], grants: Iterable[Sequence[Any]]
) -> list[dict[str, Any]]:
    """User dicts with `subscription` and `grants` from plain rows of the three tables."""
    dump_user, dump_sub, dump_grant = dumper(User), dumper(Subscription), dumper(Grant)
    sub_key = _position(Subscription, "user_id")
    grant_key = _position(Grant, "user_id")
    user_key = _position(User, "id")
    by_user: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in grants:
        by_user[row[grant_key]].append(dump_grant(row))
    sub_of = {row[sub_key]: dump_sub(row) for row in subs}
    result = []
    for row in users:
        data = dump_user(row)
        data["subscription"] = sub_of.get(row[user_key])
        data["grants"] = by_user.get(row[user_key], [])
        result.append(data)
    return result


def _position(model: type[Any], name: str) -> int:
    return [c.name for c in model.__table__.columns].index(name)


def snapshot_page(session: Session, after: str | None, size: int) -> tuple[dict[str, Any], str]:
    """Users after id `after` (the first page also carries every plan and node).

    Returns the body and the last user id in it ("" when this page is the last).
    """
    body = empty("snapshot")
    if after is None:
        body["plans"] = [dump(p, Plan) for p in session.scalars(select(Plan))]
        nodes = session.scalars(select(Node).options(selectinload(Node.inbounds)))
        body["nodes"] = [node_payload(n) for n in nodes]
    users, subs, grants = User.__table__, Subscription.__table__, Grant.__table__
    # One range per table instead of IN lists: the page is a contiguous run of user ids.
    query = select(users).order_by(users.c.id).limit(size)
    if after:
        query = query.where(users.c.id > uuid.UUID(after))
    user_rows = session.execute(query).all()
    if not user_rows:
        return body, ""
    first, last_id = user_rows[0][_position(User, "id")], user_rows[-1][_position(User, "id")]
    sub_rows = session.execute(select(subs).where(subs.c.user_id.between(first, last_id)))
    grant_rows = session.execute(select(grants).where(grants.c.user_id.between(first, last_id)))
    body["users"] = _assemble(user_rows, sub_rows, grant_rows)
    body["usage"] = usage_rows.of_user_range(session, first, last_id, utcnow())
    last = str(last_id) if len(user_rows) == size else ""
    return body, last


def delta(session: Session, since: int, limit: int) -> tuple[dict[str, Any], int] | None:
    """Current state of everything changed after `since` (up to `limit` changes).

    Returns (body, version covered), or None when a change needs a full snapshot.
    """
    batch = changes.after(session, since, limit)
    body = empty("delta")
    if not batch:
        return body, since
    wanted: dict[str, set[str]] = defaultdict(set)
    for change in batch:
        if change.entity == "resync":
            return None
        wanted[change.entity].add(change.entity_id)
    _add_plans(session, body, wanted["plan"])
    _add_nodes(session, body, wanted["node"])
    _add_users(session, body, wanted["user"])
    _add_usage(session, body, wanted["usage"])
    return body, batch[-1].version


def _add_plans(session: Session, body: dict[str, Any], ids: set[str]) -> None:
    keys = [uuid.UUID(i) for i in ids]
    found = session.scalars(select(Plan).where(Plan.id.in_(keys))).all() if keys else []
    body["plans"] = [dump(p, Plan) for p in found]
    body["deleted"]["plan"] = sorted(ids - {str(p.id) for p in found})


def _add_nodes(session: Session, body: dict[str, Any], ids: set[str]) -> None:
    keys = [uuid.UUID(i) for i in ids]
    query = select(Node).where(Node.id.in_(keys)).options(selectinload(Node.inbounds))
    found = session.scalars(query).all() if keys else []
    body["nodes"] = [node_payload(n) for n in found]
    body["deleted"]["node"] = sorted(ids - {str(n.id) for n in found})


def _add_users(session: Session, body: dict[str, Any], ids: set[str]) -> None:
    body["users"] = users_payload(session, [uuid.UUID(i) for i in sorted(ids)])
    body["deleted"]["user"] = sorted(ids - {u["id"] for u in body["users"]})


def _add_usage(session: Session, body: dict[str, Any], keys: set[str]) -> None:
    if keys:
        body["usage"] = usage_rows.of_changes(session, keys, settings.operator_zone(session))
