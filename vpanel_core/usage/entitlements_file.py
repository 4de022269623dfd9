"""The entitlements file the desktop (later the portal) gives each node to enforce alone.

`{"generated_at": ms, "as_of_seq": N, "users": {name: {"expiry": ms|null,
"remaining": bytes|null}}}`: `remaining` is this node's share of what the user has left
after every record the desktop applied, and `as_of_seq` is this node's journal sequence
those records reach, so the node counts its own usage from exactly there on.
"""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from vpanel_core.credentials import inbound_user_name
from vpanel_core.entitlement import Status
from vpanel_core.models import UsageCursor, User
from vpanel_core.services.ledger import entitlements
from vpanel_core.timeutil import require_aware, utcnow
from vpanel_core.usage.history import last_nodes
from vpanel_core.usage.shares import split_allowance

# The split treats the node a user was last seen on as carrying all their recent traffic.
LAST_NODE_WEIGHT = 1 << 30


class FileWriter(Protocol):
    def write_file(self, path: str, data: bytes, mode: int = ...) -> None: ...

    def run(self, command: str, *, check: bool = True, timeout: float = ...) -> object: ...


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def build(
    session: Session,
    node_id: uuid.UUID,
    users: Sequence[User],
    nodes_of_user: Mapping[uuid.UUID, Sequence[uuid.UUID]],
    now: datetime | None = None,
) -> dict[str, Any]:
    """The file for one node; `nodes_of_user` lists every node each user may use."""
    now = require_aware(now or utcnow())
    cursor = session.get(UsageCursor, node_id)
    derived = entitlements(session, users, now)
    last_node = last_nodes(session, [u.id for u in users])
    entries: dict[str, dict[str, int | None]] = {}
    for user in users:
        ent = derived[user.id]
        cut_now = ent.status in (Status.DISABLED, Status.EXPIRED) or ent.expiry is None
        expiry = _ms(now) if cut_now or ent.expiry is None else _ms(ent.expiry)
        peers = list(nodes_of_user.get(user.id, [node_id])) or [node_id]
        seen_on = last_node.get(user.id)
        recent = {seen_on: LAST_NODE_WEIGHT} if seen_on is not None else {}
        share = split_allowance(ent.remaining, peers, recent).get(node_id, 0)
        entries[inbound_user_name(user.id)] = {"expiry": expiry, "remaining": share}
    return {
        "generated_at": _ms(now),
        "as_of_seq": cursor.applied_seq if cursor else 0,
        "users": entries,
    }


def push(link: FileWriter, path: str, payload: Mapping[str, Any]) -> None:
    """Upload next to the target and rename: the node never reads half a file."""
    tmp = f"{path}.tmp"
    link.write_file(tmp, json.dumps(payload, separators=(",", ":")).encode(), 0o600)
    link.run(f"mv -f {shlex.quote(tmp)} {shlex.quote(path)}")
