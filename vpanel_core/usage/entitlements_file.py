"""The entitlements file the desktop (later the portal) gives each node to enforce alone.

`{"generated_at": ms, "as_of_seq": N, "resets": {strategy: [ms, ...]}, "users": {name:
{"expiry": ms|null, "remaining": bytes|null, "reset": strategy, "next_remaining": bytes}}}`:
`remaining` is this node's share of what the user has left after every record the desktop
applied, and `as_of_seq` is this node's journal sequence those records reach, so the node
counts its own usage from exactly there on.

Periodic resets must happen at the node even while the desktop is off (a customer cut for
using up May must be back at 00:00 on 1 June, operator's zone). So `resets` lists, per
strategy, the upcoming period starts in the operator's zone (`entitlement.period_start`):
every one within `RESET_HORIZON`, and always at least the next. A user with a periodic
strategy and a traffic limit names that row (`reset`) and gets `next_remaining`, this
node's share of the full per-period allowance. From each listed start on, the node counts
only records that ended at or after it (the desktop's rule) against `next_remaining`.
One table per file rather than a list per user: a daily user would otherwise carry 40
instants, megabytes over 100,000 users. The daily row, every operator-local midnight
within the horizon, is also the grid the node counts usage on, so a portal answer that
names its period start (`sync.node_access`) is counted from that midnight too. Beyond the
horizon the last period simply continues until the desktop writes a new file. Both keys
are optional: files without them mean no reset, as before.
"""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from vpanel_core import settings
from vpanel_core.batching import batches
from vpanel_core.credentials import inbound_user_name
from vpanel_core.entitlement import (
    GrantFact,
    ResetStrategy,
    Status,
    compute_allowance,
    effective_grants,
    period_start,
)
from vpanel_core.models import UsageCursor, User
from vpanel_core.services.ledger import entitlements, grants_by_user
from vpanel_core.timeutil import require_aware, utcnow
from vpanel_core.usage.history import last_nodes
from vpanel_core.usage.shares import node_shares

# How long a file keeps resetting on its own: a desktop off for a month still resets daily.
RESET_HORIZON = timedelta(days=40)
# Longer than any period of the strategy and shorter than two: a step from one period
# start lands inside the next period whatever DST does to the day's length.
_INTO_NEXT_PERIOD = {
    ResetStrategy.DAILY: timedelta(hours=36),
    ResetStrategy.WEEKLY: timedelta(days=10),
    ResetStrategy.MONTHLY: timedelta(days=40),
    ResetStrategy.YEARLY: timedelta(days=400),
}


class FileWriter(Protocol):
    def write_file(self, path: str, data: bytes, mode: int = ...) -> None: ...

    def run(self, command: str, *, check: bool = True, timeout: float = ...) -> object: ...


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def upcoming_starts(strategy: ResetStrategy, now: datetime, tz: ZoneInfo) -> list[datetime]:
    """Period starts after `now`: all within `RESET_HORIZON`, and always the next one."""
    start = period_start(strategy, now, tz)
    if start is None:
        return []
    starts: list[datetime] = []
    while True:
        start = period_start(strategy, start + _INTO_NEXT_PERIOD[strategy], tz)
        assert start is not None  # periodic strategy
        if starts and start > now + RESET_HORIZON:
            return starts
        starts.append(start)


def _live_grants(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[GrantFact]]:
    found: dict[uuid.UUID, list[GrantFact]] = {}
    for chunk in batches(ids):
        found.update(grants_by_user(session, chunk))
    return {user: effective_grants(grants) for user, grants in found.items()}


def build(
    session: Session,
    node_id: uuid.UUID,
    users: Sequence[User],
    nodes_of_user: Mapping[uuid.UUID, Sequence[uuid.UUID]],
    now: datetime | None = None,
) -> dict[str, Any]:
    """The file for one node; `nodes_of_user` lists every node each user may use."""
    now = require_aware(now or utcnow())
    tz = settings.operator_zone(session)
    cursor = session.get(UsageCursor, node_id)
    derived = entitlements(session, users, now)
    last_node = last_nodes(session, [u.id for u in users])
    resets: dict[ResetStrategy, list[datetime]] = {
        s: upcoming_starts(s, now, tz) for s in ResetStrategy if s is not ResetStrategy.NONE
    }
    cut = {
        u.id
        for u in users
        if derived[u.id].status in (Status.DISABLED, Status.EXPIRED) or derived[u.id].expiry is None
    }
    periodic = {
        u.id
        for u in users
        if u.reset_strategy != ResetStrategy.NONE
        and derived[u.id].allowance is not None
        and u.id not in cut
    }
    grants = _live_grants(session, sorted(periodic))
    entries: dict[str, dict[str, Any]] = {}
    for user in users:
        ent = derived[user.id]
        expiry = _ms(now) if user.id in cut or ent.expiry is None else _ms(ent.expiry)
        peers = list(nodes_of_user.get(user.id, [node_id])) or [node_id]
        seen_on = last_node.get(user.id)
        share = node_shares(ent.remaining, peers, seen_on).get(node_id, 0)
        entry: dict[str, Any] = {"expiry": expiry, "remaining": share}
        if user.id in periodic:
            strategy = ResetStrategy(user.reset_strategy)
            # The allowance the desktop will derive once the next period has begun.
            allowance = compute_allowance(grants.get(user.id, []), strategy, resets[strategy][0])
            entry["reset"] = strategy.value
            entry["next_remaining"] = node_shares(allowance, peers, seen_on).get(node_id, 0)
        entries[inbound_user_name(user.id)] = entry
    return {
        "generated_at": _ms(now),
        "as_of_seq": cursor.applied_seq if cursor else 0,
        "resets": {s.value: [_ms(t) for t in starts] for s, starts in resets.items()},
        "users": entries,
    }


def push(link: FileWriter, path: str, payload: Mapping[str, Any]) -> None:
    """Upload next to the target and rename: the node never reads half a file."""
    tmp = f"{path}.tmp"
    link.write_file(tmp, json.dumps(payload, separators=(",", ":")).encode(), 0o600)
    link.run(f"mv -f {shlex.quote(tmp)} {shlex.quote(path)}")
