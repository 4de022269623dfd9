"""Reading and writing the entitlement ledger for users, one or 100,000 at a time."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from vpanel_core import settings
from vpanel_core.entitlement import (
    Entitlement,
    GrantFact,
    GrantKind,
    ResetStrategy,
    effective_grants,
    entitlement_from,
    period_start,
    usage_floor,
)
from vpanel_core.errors import ValidationError
from vpanel_core.models import Grant, User
from vpanel_core.timeutil import require_aware, utcnow
from vpanel_core.usage.period import period_usage

K = TypeVar("K")


def add_grant(
    session: Session,
    user_id: uuid.UUID,
    kind: GrantKind,
    *,
    grant_id: str | None = None,
    seconds: int = 0,
    byte_count: int = 0,
    unlimited: bool = False,
    reverses: str | None = None,
    effective_at: datetime | None = None,
    source: str = "manual",
    note: str = "",
) -> bool:
    """Append a grant; returns False when a grant with this id already exists (no-op).

    Uses INSERT … ON CONFLICT DO NOTHING so concurrent duplicate deliveries (two
    webhook workers, two sync runs) cannot both credit.
    """
    if seconds < 0 or byte_count < 0:
        raise ValidationError("a grant cannot take away time or traffic; use a reversal")
    values = {
        "id": grant_id or f"grant:{uuid.uuid4()}",
        "user_id": user_id,
        "kind": kind.value,
        "seconds": seconds,
        "bytes": byte_count,
        "unlimited": unlimited,
        "reverses": reverses,
        "effective_at": require_aware(effective_at or utcnow(), "effective_at"),
        "source": source,
        "note": note[:255],
        "created_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(Grant)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(Grant.id)
    )
    return session.execute(stmt).first() is not None


class EntitledParty(Protocol):
    """What the derivation needs of a user: a `User` row or a plain column row."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def enabled(self) -> bool: ...

    @property
    def reset_strategy(self) -> str: ...


def grants_by_user(
    session: Session, user_ids: Sequence[uuid.UUID] | None
) -> dict[uuid.UUID, list[GrantFact]]:
    """Grant facts per user, read as plain columns (no ORM objects for 100,000 users)."""
    query = select(
        Grant.user_id,
        Grant.id,
        Grant.kind,
        Grant.effective_at,
        Grant.seconds,
        Grant.bytes,
        Grant.unlimited,
        Grant.reverses,
    )
    if user_ids is not None:
        query = query.where(Grant.user_id.in_(user_ids))
    result: dict[uuid.UUID, list[GrantFact]] = defaultdict(list)
    for user_id, gid, kind, at, seconds, size, unlimited, reverses in session.execute(query):
        result[user_id].append(
            GrantFact(gid, GrantKind(kind), at, seconds, size, unlimited, reverses)
        )
    return result


def used_since(
    session: Session,
    floors: dict[uuid.UUID, datetime | None],
    tz: ZoneInfo,
    now: datetime,
) -> dict[uuid.UUID, int]:
    """Bytes per user since each user's floor (`vpanel_core.usage.period` has the rule)."""
    return {uid: up + down for uid, (up, down) in period_usage(session, floors, tz, now).items()}


def live_grants(
    session: Session, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[GrantFact]]:
    """Each user's effective grants (`effective_grants`), read in one query."""
    grants = grants_by_user(session, user_ids if len(user_ids) < 5000 else None)
    return {uid: effective_grants(grants.get(uid, [])) for uid in user_ids}


def period_starts(now: datetime, tz: ZoneInfo) -> dict[ResetStrategy, datetime | None]:
    """Each strategy's current period start, computed once for many users."""
    return {s: period_start(s, now, tz) for s in ResetStrategy}


def usage_floors(
    strategies: Mapping[K, str],
    live: Mapping[K, list[GrantFact]],
    starts: Mapping[ResetStrategy, datetime | None],
    tz: ZoneInfo,
) -> dict[K, datetime | None]:
    """Each user's usage floor (`entitlement.usage_floor`), what their used bytes count
    from, by the user's reset strategy and live grants (users keyed alike in both)."""
    return {
        user: usage_floor(live.get(user, []), starts[ResetStrategy(strategy)], tz)
        for user, strategy in strategies.items()
    }


def entitlements(
    session: Session,
    users: Sequence[EntitledParty],
    now: datetime | None = None,
    live: Mapping[uuid.UUID, list[GrantFact]] | None = None,
) -> dict[uuid.UUID, Entitlement]:
    """Derived entitlement for many users with two queries, not two per user. A caller
    that needs the grants as well reads them once (`live_grants`) and passes them."""
    now = require_aware(now or utcnow(), "now")
    tz = settings.operator_zone(session)
    if live is None:
        live = live_grants(session, [u.id for u in users])
    starts = period_starts(now, tz)
    strategies = {user.id: user.reset_strategy for user in users}
    used = used_since(session, usage_floors(strategies, live, starts, tz), tz, now)
    result = {}
    for user in users:
        strategy = ResetStrategy(user.reset_strategy)
        result[user.id] = entitlement_from(
            live.get(user.id, []),
            strategy,
            starts[strategy],
            used.get(user.id, 0),
            enabled=user.enabled,
            now=now,
        )
    return result


def entitlement(session: Session, user: User, now: datetime | None = None) -> Entitlement:
    return entitlements(session, [user], now)[user.id]


def renew(
    session: Session,
    user: User,
    *,
    days: float = 0,
    traffic_bytes: int = 0,
    unlimited: bool = False,
    source: str = "manual",
    grant_id: str | None = None,
    note: str = "",
) -> bool:
    """Add time and/or traffic to a user (a manual renewal or a plan purchase)."""
    if days < 0 or traffic_bytes < 0:
        raise ValidationError("days and traffic must not be negative")
    if days == 0 and traffic_bytes == 0 and not unlimited:
        raise ValidationError("a renewal must add days or traffic")
    if days > 0:
        return add_grant(
            session,
            user.id,
            GrantKind.EXTEND,
            grant_id=grant_id,
            seconds=int(timedelta(days=days).total_seconds()),
            byte_count=traffic_bytes,
            unlimited=unlimited,
            source=source,
            note=note,
        )
    return add_grant(
        session,
        user.id,
        GrantKind.TRAFFIC,
        grant_id=grant_id,
        byte_count=traffic_bytes,
        source=source,
        note=note,
    )


def reset_usage(session: Session, user: User, *, grant_id: str | None = None) -> bool:
    return add_grant(session, user.id, GrantKind.USAGE_RESET, grant_id=grant_id, source="manual")


def reverse(session: Session, user: User, grant_id: str, *, reason: str = "refund") -> bool:
    if session.get(Grant, grant_id) is None:
        raise ValidationError(f"no grant {grant_id!r} to reverse")
    return add_grant(
        session,
        user.id,
        GrantKind.REVERSAL,
        grant_id=f"reversal:{grant_id}",
        reverses=grant_id,
        source=reason,
    )
