"""Apply journal records to the database exactly once, and keep the daily rollup in step.

Records are keyed by (node, seq): re-applying a page, a node replaying old sequences or
two collectors racing all end in INSERT … ON CONFLICT DO NOTHING, and the rollup only
adds rows that were really inserted. Records naming no known user go to `usage_unknown`
(reported, counted against nobody). Everything goes through a temporary staging table
filled in bulk (executemany on SQLite, COPY on PostgreSQL), so a million records apply
in seconds, not minutes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from vpanel_core.usage.schema import UsageLine

QUARTER_HOUR_MS = 900_000  # every real UTC offset is a multiple of 15 minutes
SQLITE_CACHE_KIB = 262_144
# The form nodes write user ids in; anything else goes through uuid.UUID (same result).
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_COPY_NULL = "\\N"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})

STAGE_COLUMNS = "node_id, seq, user_id, user_name, uplink, downlink, started_at, ended_at, day"


@dataclass(slots=True)
class IngestResult:
    received: int = 0
    applied: int = 0
    duplicates: int = 0
    unknown: int = 0
    unknown_users: set[str] = field(default_factory=set)


class _Times:
    """Memoised ms → stored-datetime text and ms → operator-local day (records share times)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._stamps: dict[int, str] = {}
        self._days: dict[int, str] = {}

    def stamp(self, ms: int) -> str:
        value = self._stamps.get(ms)
        if value is None:
            moment = datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)
            value = self._stamps[ms] = moment.isoformat(sep=" ", timespec="microseconds")
        return value

    def day(self, ms: int) -> str:
        block = ms // QUARTER_HOUR_MS
        value = self._days.get(block)
        if value is None:
            moment = datetime.fromtimestamp(block * QUARTER_HOUR_MS / 1000, self.tz)
            value = self._days[block] = moment.date().isoformat()
        return value


def _user_key(name: str, pg: bool) -> str | None:
    """The id a record's user would have as stored (PG: uuid text, SQLite: 32 hex), or None.

    Whether that user exists is settled in SQL against the users' primary key, not here.
    """
    if _CANONICAL_UUID.fullmatch(name) is None:
        try:
            parsed = uuid.UUID(name)
        except ValueError:
            return None
        return str(parsed) if pg else parsed.hex
    return name if pg else name.replace("-", "")


# Pure functions of the name, so cached across pages and nodes (every node names the same
# users): (staged user id, staged user name — COPY-escaped for PostgreSQL).
@lru_cache(maxsize=1 << 19)
def _sqlite_user(name: str) -> tuple[str | None, str]:
    return _user_key(name, False), name[:128]


@lru_cache(maxsize=1 << 19)
def _pg_user(name: str) -> tuple[str | None, str]:
    return _user_key(name, True), name[:128].translate(_COPY_ESCAPES)


def _stage_rows(
    node_id: uuid.UUID, records: Sequence[UsageLine], tz: ZoneInfo, pg: bool, unique: bool
) -> list[tuple[Any, ...]]:
    """One staging row per distinct seq (the first record wins, as INSERT OR IGNORE did)."""
    times = _Times(tz)
    node = str(node_id) if pg else node_id.hex
    user_of = _pg_user if pg else _sqlite_user
    spans: dict[tuple[int, int], tuple[str, str, str]] = {}
    rows = []
    seen: set[int] = set()
    for r in records:
        if not unique:
            if r.seq in seen:
                continue
            seen.add(r.seq)
        user, name = user_of(r.user)
        span = spans.get((r.t0, r.t1))
        if span is None:
            span = spans[(r.t0, r.t1)] = (times.stamp(r.t0), times.stamp(r.t1), times.day(r.t1))
        rows.append((node, r.seq, user, name, r.up, r.down, *span))
    return rows


def _create_stage(session: Session, pg: bool) -> None:
    uid = "uuid" if pg else "CHAR(32)"
    stamp = "timestamp" if pg else "DATETIME"
    # No key: rows arrive de-duplicated by seq, and every statement reads the stage whole.
    session.execute(
        text(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS usage_stage (node_id {uid} NOT NULL, "
            f"seq BIGINT NOT NULL, user_id {uid}, user_name VARCHAR(128) NOT NULL, "
            f"uplink BIGINT NOT NULL, downlink BIGINT NOT NULL, started_at {stamp} NOT NULL, "
            f"ended_at {stamp} NOT NULL, day DATE NOT NULL)"
        )
    )
    session.execute(text("DELETE FROM usage_stage"))


def _fill_stage(session: Session, rows: list[tuple[Any, ...]], pg: bool) -> None:
    raw = session.connection().connection.driver_connection
    assert raw is not None
    if pg:
        # COPY text format written directly: user names are escaped in _stage_rows, every
        # other field is a number, a uuid or a timestamp/date literal.
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY usage_stage ({STAGE_COLUMNS}) FROM STDIN") as copy,
        ):
            chunk = 20_000
            for at in range(0, len(rows), chunk):
                copy.write(
                    "".join(
                        f"{n}\t{q}\t{u or _COPY_NULL}\t{m}\t{a}\t{b}\t{s}\t{e}\t{d}\n"
                        for n, q, u, m, a, b, s, e, d in rows[at : at + chunk]
                    )
                )
        return
    cursor = raw.cursor()
    try:
        cursor.executemany(
            f"INSERT INTO usage_stage ({STAGE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",  # noqa: S608
            rows,
        )
    finally:
        cursor.close()


# Records naming a user that does not exist (or no uuid at all) lose their user id here.
FORGET_UNKNOWN_SQL = (
    "UPDATE usage_stage SET user_id = NULL WHERE user_id IS NOT NULL AND NOT EXISTS "
    "(SELECT 1 FROM users u WHERE u.id = usage_stage.user_id)"
)
UNKNOWN_SQL = (
    "INSERT INTO usage_unknown (node_id, seq, user_name, uplink, downlink, started_at, ended_at) "
    "SELECT node_id, seq, user_name, uplink, downlink, started_at, ended_at FROM usage_stage "
    "WHERE user_id IS NULL ON CONFLICT DO NOTHING"
)
DROP_UNKNOWN_SQL = "DELETE FROM usage_stage WHERE user_id IS NULL"
ROLLUP_UPSERT = (
    " ON CONFLICT (user_id, node_id, day) DO UPDATE SET "
    "uplink = usage_daily.uplink + excluded.uplink, "
    "downlink = usage_daily.downlink + excluded.downlink"
)
# PostgreSQL: insert and roll up only what the insert really added, in one statement, so
# two collectors racing on the same node cannot both add a record to the rollup.
PG_APPLY_SQL = (
    "WITH ins AS (INSERT INTO usage_records (node_id, seq, user_id, uplink, downlink, "  # noqa: S608
    "started_at, ended_at) SELECT node_id, seq, user_id, uplink, downlink, started_at, ended_at "
    "FROM usage_stage ORDER BY user_id ON CONFLICT DO NOTHING RETURNING node_id, seq), "
    "roll AS (INSERT INTO usage_daily (user_id, node_id, day, uplink, downlink) "
    "SELECT s.user_id, s.node_id, s.day, SUM(s.uplink), SUM(s.downlink) FROM usage_stage s "
    "JOIN ins ON ins.node_id = s.node_id AND ins.seq = s.seq GROUP BY s.user_id, s.node_id, s.day"
    + ROLLUP_UPSERT
    + " RETURNING 1) SELECT (SELECT COUNT(*) FROM ins)"
)
# SQLite: one writer at a time; the rollup statement takes the write lock first, so the
# NOT EXISTS it reads cannot change before the insert that follows in this transaction.
SQLITE_ROLLUP_SQL = (
    "INSERT INTO usage_daily (user_id, node_id, day, uplink, downlink) "  # noqa: S608
    "SELECT s.user_id, s.node_id, s.day, SUM(s.uplink), SUM(s.downlink) FROM usage_stage s "
    "WHERE NOT EXISTS (SELECT 1 FROM usage_records r "
    "WHERE r.node_id = s.node_id AND r.seq = s.seq) "
    "GROUP BY s.user_id, s.node_id, s.day" + ROLLUP_UPSERT
)
SQLITE_INSERT_SQL = (
    "INSERT INTO usage_records (node_id, seq, user_id, uplink, downlink, started_at, ended_at) "
    "SELECT node_id, seq, user_id, uplink, downlink, started_at, ended_at FROM usage_stage "
    "WHERE true ORDER BY user_id ON CONFLICT DO NOTHING"
)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0))


def apply_records(
    session: Session, node_id: uuid.UUID, records: Sequence[UsageLine], tz: ZoneInfo
) -> IngestResult:
    """Apply one node's records (any order, any repeats) inside the caller's transaction."""
    seqs = {r.seq for r in records}
    result = IngestResult(received=len(seqs))
    if not records:
        return result
    pg = session.get_bind().dialect.name == "postgresql"
    _create_stage(session, pg)
    rows = _stage_rows(node_id, records, tz, pg, unique=len(seqs) == len(records))
    _fill_stage(session, rows, pg)
    session.execute(text(FORGET_UNKNOWN_SQL))
    unknown_names = (
        session.execute(text("SELECT DISTINCT user_name FROM usage_stage WHERE user_id IS NULL"))
        .scalars()
        .all()
    )
    if unknown_names:
        session.execute(text(UNKNOWN_SQL))
        result.unknown = _rowcount(session.execute(text(DROP_UNKNOWN_SQL)))
        result.unknown_users = set(unknown_names)
    if pg:
        # The rollup's hash aggregate spills to disk at the default 4 MB for a big page.
        session.execute(text("SET LOCAL work_mem = '64MB'"))
        result.applied = int(session.execute(text(PG_APPLY_SQL)).scalar_one())
    else:
        # A big page touches index pages all over: a larger page cache for this connection.
        session.execute(text(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}"))
        session.execute(text(SQLITE_ROLLUP_SQL))
        result.applied = _rowcount(session.execute(text(SQLITE_INSERT_SQL)))
    result.duplicates = result.received - result.unknown - result.applied
    return result
