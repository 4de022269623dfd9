"""Rate limits and login lockouts kept in the database, so every portal process agrees.

Fixed-window counters are incremented with one atomic INSERT … ON CONFLICT DO UPDATE …
RETURNING, which is correct across processes and machines sharing one PostgreSQL
(and across threads on SQLite). Identifiers (addresses, e-mails) are hashed into the
key so the counter table holds no personal data.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, String, Text, case, cast, delete, literal, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from vpanel_core import bulk_sql
from vpanel_core.errors import DomainError
from vpanel_core.models import LoginThrottle, RateLimitCounter, UTCDateTime
from vpanel_core.timeutil import require_aware, utcnow

#: one request in this many also deletes expired counters (cheap amortised cleanup)
PRUNE_ONE_IN = 200
#: failures older than this are forgotten
FAILURE_MEMORY = timedelta(days=1)


class RateLimited(DomainError):
    code = "RATE_LIMITED"
    http_status = 429

    def __init__(self, retry_after: int, message: str = "") -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(
            message or f"too many requests; try again in {self.retry_after} seconds",
            details={"retry_after": self.retry_after},
        )


class LoginLocked(RateLimited):
    code = "LOGIN_LOCKED"


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `hits` per `seconds`-long window."""

    hits: int
    seconds: int


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """After `threshold` failures, lock for base * 2^(failures - threshold), capped."""

    threshold: int = 5
    base_seconds: int = 30
    max_seconds: int = 3600

    def lock_seconds(self, failures: int) -> int:
        if failures < self.threshold:
            return 0
        exponent = min(failures - self.threshold, 30)
        return int(min(self.base_seconds * 2**exponent, self.max_seconds))


def counter_key(scope: str, identity: str) -> str:
    return f"{scope}:{hashlib.sha256(identity.encode()).hexdigest()[:40]}"


def _upsert(session: Session, model: type[Any]) -> Any:
    """INSERT … ON CONFLICT for the session's dialect (both support RETURNING)."""
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(model)
    return sqlite_insert(model)


def hit(
    session: Session, scope: str, identity: str, limit: Limit, now: datetime | None = None
) -> int:
    """Count one hit; raise `RateLimited` (with seconds to wait) once the window is full."""
    now = require_aware(now or utcnow())
    stamp = now.timestamp()
    window = int(stamp // limit.seconds)
    window_end = (window + 1) * limit.seconds
    table = RateLimitCounter.__table__
    stmt = _upsert(session, RateLimitCounter).values(
        key=counter_key(scope, identity),
        window=window,
        count=1,
        expires_at=datetime.fromtimestamp(window_end, now.tzinfo),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["key", "window"], set_={"count": table.c.count + 1}
    ).returning(table.c.count)
    count = int(session.execute(stmt).scalar_one())
    sometimes_prune(session, now)
    if count > limit.hits:
        raise RateLimited(math.ceil(window_end - stamp))
    return count


def add_hits(
    session: Session, scope: str, hits: Mapping[str, int], limit: Limit, now: datetime
) -> dict[str, int]:
    """Add hits counted elsewhere (in a process's memory) to the shared counters of the
    current window; returns each identity's total over every process.

    One upsert and one read however many identities (`bulk_sql`: an executemany costs a
    portal's housekeeper a GIL round trip per address). Identities go in sorted, so
    processes upserting the same ones on PostgreSQL lock them in one order (no deadlock)."""
    now = require_aware(now)
    window = int(now.timestamp() // limit.seconds)
    expires = datetime.fromtimestamp((window + 1) * limit.seconds, now.tzinfo)
    keys = {counter_key(scope, identity): identity for identity in sorted(hits)}
    if not keys:
        return {}
    table = RateLimitCounter.__table__
    added = bulk_sql.table(
        session,
        {"key": String(), "count": BigInteger()},
        [(key, hits[identity]) for key, identity in keys.items()],
    ).c
    rows = select(
        added.key, literal(window, BigInteger), added.count, literal(expires, UTCDateTime)
    )
    stmt = _upsert(session, RateLimitCounter).from_select(
        ["key", "window", "count", "expires_at"],
        rows.where(true()),  # SQLite reads `FROM … ON CONFLICT` as a join without a WHERE
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["key", "window"], set_={"count": table.c.count + stmt.excluded.count}
    )
    session.execute(stmt)
    sometimes_prune(session, now)  # addresses counted only here would otherwise pile up
    totals = bulk_sql.gathered(
        session,
        select(table.c.key + "=" + cast(table.c.count, Text)).where(
            table.c.window == window, table.c.key.in_(select(added.key))
        ),
    )
    return {keys[key]: int(count) for key, count in (t.split("=") for t in totals)}


def counted_keys(session: Session, scope: str, limit: Limit, now: datetime) -> set[str]:
    """`counter_key`s of every identity with a hit in `scope`'s current window (one row
    read, see `add_hits`)."""
    window = int(require_aware(now).timestamp() // limit.seconds)
    table = RateLimitCounter.__table__
    query = select(table.c.key).where(table.c.window == window, table.c.key.startswith(f"{scope}:"))
    return set(bulk_sql.gathered(session, query))


def check(
    session: Session, scope: str, identity: str, limit: Limit, now: datetime | None = None
) -> None:
    """Raise `RateLimited` once `limit.hits` were counted in this window (counts nothing).

    Pairs with `hit` on a separate event (e.g. count misses, check before every lookup).
    """
    now = require_aware(now or utcnow())
    stamp = now.timestamp()
    window = int(stamp // limit.seconds)
    count = session.scalar(
        select(RateLimitCounter.count).where(
            RateLimitCounter.key == counter_key(scope, identity), RateLimitCounter.window == window
        )
    )
    if count is not None and count >= limit.hits:
        raise RateLimited(math.ceil((window + 1) * limit.seconds - stamp))


def sometimes_prune(session: Session, now: datetime) -> None:
    """`prune` on one call in `PRUNE_ONE_IN`: cleanup amortised over the writes."""
    if secrets.randbelow(PRUNE_ONE_IN) == 0:
        prune(session, now)


def prune(session: Session, now: datetime) -> None:
    session.execute(delete(RateLimitCounter).where(RateLimitCounter.expires_at < now))
    session.execute(delete(LoginThrottle).where(LoginThrottle.updated_at < now - FAILURE_MEMORY))


def check_lockout(session: Session, key: str, now: datetime | None = None) -> None:
    """Raise `LoginLocked` while this account+address is locked out."""
    now = require_aware(now or utcnow())
    row = session.get(LoginThrottle, key)
    if row is None or row.locked_until is None or row.locked_until <= now:
        return
    raise LoginLocked(
        math.ceil((row.locked_until - now).total_seconds()),
        "too many failed logins; try again later",
    )


def record_failure(
    session: Session, key: str, policy: LockoutPolicy, now: datetime | None = None
) -> int:
    """Count a failed login atomically and lock when the policy says so; returns failures."""
    now = require_aware(now or utcnow())
    table = LoginThrottle.__table__
    stale = table.c.updated_at < now - FAILURE_MEMORY
    stmt = (
        _upsert(session, LoginThrottle)
        .values(key=key, failures=1, updated_at=now)
        .on_conflict_do_update(
            index_elements=["key"],
            set_={
                "failures": case((stale, 1), else_=table.c.failures + 1),
                "updated_at": now,
            },
        )
        .returning(table.c.failures)
    )
    failures = int(session.execute(stmt).scalar_one())
    seconds = policy.lock_seconds(failures)
    if seconds:
        session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key == key)
            .values(locked_until=now + timedelta(seconds=seconds))
        )
    return failures


def clear_failures(session: Session, key: str) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


def lockout_key(account: str, address: str) -> str:
    return hashlib.sha256(f"{account.lower()}\x00{address}".encode()).hexdigest()
