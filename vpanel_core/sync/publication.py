"""Desktop side: what the portal needs, as snapshot pages and as deltas since a version.

Never published: SSH keys and host keys, node API secrets (only the hash of the
node's pull token), inbound server-side secrets (private keys, certificates) — an
inbound carries only the settings `client_view` reads.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from operator import methodcaller
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from vpanel_core import settings
from vpanel_core.batching import batches
from vpanel_core.models import Grant, Inbound, Node, Plan, Subscription, User
from vpanel_core.sync import changes, usage_rows
from vpanel_core.sync.node_tokens import pull_token, token_hash
from vpanel_core.sync.rows import as_dicts, dump, extend, read_table, select_raw
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
    """A publication: plans and nodes as dicts; users, their subscriptions and grants as
    tables (`rows.Columns`, the bulk of a snapshot) and usage as `usage_rows` tables."""
    return {
        "kind": kind,
        "plans": [],
        "nodes": [],
        "users": {},
        "subscriptions": {},
        "grants": {},
        "usage": {},
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


def _add_users_where(session: Session, body: dict[str, Any], query: Select[Any]) -> list[Any]:
    """Add the users of `query` (a `select_raw(User)`); returns their ids (wire text)."""
    found = read_table(session, User, query)
    body["users"] = extend(body["users"], found)
    return found["id"]


def _add_owned(session: Session, body: dict[str, Any], owned: Callable[[Any], Any]) -> None:
    """Add the subscriptions and grants whose user_id is `owned` (a condition on it)."""
    for model, key in ((Subscription, "subscriptions"), (Grant, "grants")):
        table = read_table(session, model, select_raw(model).where(owned(model.user_id)))
        body[key] = extend(body[key], table)


def snapshot_page(session: Session, after: str | None, size: int) -> tuple[dict[str, Any], str]:
    """Users after id `after` (the first page also carries every plan and node).

    Returns the body and the last user id in it ("" when this page is the last).
    """
    body = empty("snapshot")
    if after is None:
        body["plans"] = [dump(p, Plan) for p in session.scalars(select(Plan))]
        nodes = session.scalars(select(Node).options(selectinload(Node.inbounds)))
        body["nodes"] = [node_payload(n) for n in nodes]
    query = select_raw(User).order_by(User.id).limit(size)
    if after:
        query = query.where(User.id > uuid.UUID(after))
    ids = _add_users_where(session, body, query)
    if not ids:
        return body, ""
    # One range per table instead of IN lists: the page is a contiguous run of user ids.
    first, last = uuid.UUID(ids[0]), uuid.UUID(ids[-1])
    between = methodcaller("between", first, last)
    _add_owned(session, body, between)
    now, tz = utcnow(), settings.operator_zone(session)
    floors = usage_rows.floors_of(body["users"], body["grants"], now, tz)
    body["usage"] = usage_rows.of_users(session, between, floors, now, tz)
    return body, ids[-1] if len(ids) == size else ""


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
    _add_usage(session, body, wanted["user"], wanted["usage"])
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
    found = _read_users(session, body, [uuid.UUID(i) for i in sorted(ids)])
    body["deleted"]["user"] = sorted(ids - set(found))


def _read_users(session: Session, body: dict[str, Any], ids: list[uuid.UUID]) -> list[Any]:
    """Add these users with their subscriptions and grants; returns the ids found."""
    found: list[Any] = []
    for chunk in batches(ids, IN_CLAUSE):
        found.extend(_add_users_where(session, body, select_raw(User).where(User.id.in_(chunk))))
        _add_owned(session, body, methodcaller("in_", chunk))
    return found


def users_payload(session: Session, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    """Each user as a dict with its subscription and grants (an events page's form)."""
    body = empty("users")
    _read_users(session, body, ids)
    sub_of = {sub["user_id"]: sub for sub in as_dicts(body["subscriptions"])}
    grants: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for grant in as_dicts(body["grants"]):
        grants[grant["user_id"]].append(grant)
    return [
        {**user, "subscription": sub_of.get(user["id"]), "grants": grants.get(user["id"], [])}
        for user in as_dicts(body["users"])
    ]


def _add_usage(session: Session, body: dict[str, Any], users: set[str], keys: set[str]) -> None:
    """A changed user's usage from their floor (the change may have moved it back: a new
    reset strategy, an undone reset) and the changed days of the other users.

    A changed user's days before the floor are left out: the portal does not read them
    unless the floor moves back, which publishes the user again.
    """
    now, tz = utcnow(), settings.operator_zone(session)
    floors = usage_rows.floors_of(body["users"], body["grants"], now, tz)
    for chunk in batches(sorted(users), IN_CLAUSE):
        mine = {user: floors[user] for user in chunk if user in floors}
        owned = methodcaller("in_", [uuid.UUID(user) for user in chunk])
        usage_rows.merge(body["usage"], usage_rows.of_users(session, owned, mine, now, tz))
    days = {key for key in keys if usage_rows.user_of(key) not in users}
    if days:
        usage_rows.merge(body["usage"], usage_rows.of_changes(session, days, tz))
