"""Apply journal records to the rollups exactly once.

A record counts once per (node, seq): the sequences applied so far are kept as runs
(`usage_applied`), so re-applying a page, a node replaying old sequences or two
collectors racing all find the record already covered: ingestion runs one transaction
at a time (`_Store.lock_nodes`). Records naming no known user go to
`usage_unknown` (reported, counted against nobody).

A round (any number of nodes' pages) is summed in memory first, and each rollup then
gets one row per user (hour, day, all-time) and per node (day): a million records from
ten nodes become a few hundred thousand row writes in one transaction.
"""

from __future__ import annotations

import bisect
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import groupby
from operator import attrgetter, itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from vpanel_core.batching import batches, paused_gc
from vpanel_core.models import UsageApplied, UsageHourly, User
from vpanel_core.sync import changes, ordering
from vpanel_core.sync.usage_rows import change_key
from vpanel_core.timeutil import utcnow
from vpanel_core.usage.period import HOURLY_RETENTION_DAYS
from vpanel_core.usage.schema import UsageLine

#: the leading primary-key column of the time-keyed rollups
TIME_KEYS = ("hour", "day")
QUARTER_HOUR_MS = 900_000  # every real UTC offset is a multiple of 15 minutes
HOUR_MS = 3_600_000
# Up to this many distinct users are looked up by key; more, and all ids are read once.
LOOKUP_BY_KEY = 2000
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

Run = tuple[int, int]
_END = attrgetter("t1")


@dataclass(slots=True)
class IngestResult:
    received: int = 0
    applied: int = 0
    duplicates: int = 0
    unknown: int = 0
    unknown_users: set[str] = field(default_factory=set)


class _Buckets:
    """Memoised ms → (local hour start in ms, local day) per quarter hour (records share times)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._cache: dict[int, tuple[int, str]] = {}

    def of(self, ms: int) -> tuple[int, str]:
        block = ms // QUARTER_HOUR_MS
        known = self._cache.get(block)
        if known is None:
            moment = datetime.fromtimestamp(block * QUARTER_HOUR_MS / 1000, self.tz)
            offset = moment.utcoffset()
            offset_ms = int(offset.total_seconds() * 1000) if offset else 0
            known = self._cache[block] = (offset_ms, moment.date().isoformat())
        offset_ms, day = known
        return ms - (ms + offset_ms) % HOUR_MS, day


@lru_cache(maxsize=1 << 19)
def _canonical(name: str) -> str | None:
    """The user id a journal name stands for (canonical uuid text), or None."""
    if _CANONICAL_UUID.fullmatch(name):
        return name
    try:
        return str(uuid.UUID(name))
    except ValueError:
        return None


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class _Store:
    """The dialect-specific writes: raw driver calls, because ORM rows cost 10× here."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.pg = session.get_bind().dialect.name == "postgresql"

    def key(self, canonical: str) -> str:
        return canonical if self.pg else canonical.replace("-", "")

    def _raw(self) -> Any:
        return self.session.connection().connection.driver_connection

    def lock_nodes(self, nodes: Sequence[uuid.UUID]) -> None:
        """One ingestion at a time, and every node with a cursor row.

        PostgreSQL: an advisory lock (rounds of different nodes touch the same users'
        rows, and the MERGE below has no conflict handling). SQLite: the first insert
        takes the database's single write lock for the rest of the transaction.
        """
        ordering.serialize(self.session, "usage")
        for node in nodes:
            self.session.execute(
                text(
                    "INSERT INTO usage_cursors (node_id, applied_seq, clock_skew_ms, torn_lines, "
                    "corrupt_lines, unknown_records) VALUES (:n, 0, 0, 0, 0, 0) "
                    "ON CONFLICT DO NOTHING"
                ),
                {"n": self.key(str(node))},
            )

    def known_users(self, keys: set[str]) -> set[str]:
        if not keys:
            return set()
        if len(keys) > LOOKUP_BY_KEY:
            cursor = self._raw().cursor()
            try:
                cursor.execute("SELECT CAST(id AS TEXT) FROM users")
                return {row[0] for row in cursor.fetchall()} & keys
            finally:
                cursor.close()
        ids = [uuid.UUID(k) for k in keys]
        found = self.session.scalars(select(User.id).where(User.id.in_(ids))).all()
        return {self.key(str(i)) for i in found}

    def upsert(
        self, table: str, columns: Sequence[str], key: int, rows: list[tuple[Any, ...]]
    ) -> None:
        """Insert `rows`, or merge them into the row already there (`_merged`).

        The first `key` columns are the primary key.
        """
        if not rows:
            return
        names = ", ".join(columns)
        # Key order (by the last key column: the others mostly repeat within a round) lets
        # the index fill page by page instead of all over.
        rows.sort(key=itemgetter(key - 1))
        cursor = self._raw().cursor()
        try:
            if self.pg:
                self._merge_staged(cursor, table, columns, key, rows)
            else:
                updates = ", ".join(_merged(c, table, "excluded") for c in columns[key:])
                marks = ", ".join("?" for _ in columns)
                cursor.executemany(
                    f"INSERT INTO {table} ({names}) VALUES ({marks}) "  # noqa: S608
                    f"ON CONFLICT ({', '.join(columns[:key])}) DO UPDATE SET {updates}",
                    rows,
                )
        finally:
            cursor.close()

    def _merge_staged(
        self, cursor: Any, table: str, columns: Sequence[str], key: int, rows: list[tuple[Any, ...]]
    ) -> None:
        """PostgreSQL: COPY into a per-connection stage, then one MERGE (half the cost of
        INSERT … ON CONFLICT here). MERGE has no conflict handling of its own: the round's
        advisory lock (`lock_nodes`) keeps other ingestion out meanwhile.

        A time-keyed rollup is matched within the round's own hours or days only: the
        planner then reads that stretch of the primary key, not the whole table (40 days
        of hours for every user: the plain join scanned millions of rows a round)."""
        stage = f"stage_{table}"
        names = ", ".join(columns)
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} (LIKE {table}) ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {stage}")
        # COPY text: every value here is a number, uuid, date or timestamp (no escaping).
        line = "\t".join(["%s"] * len(columns)) + "\n"
        with cursor.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
            for some in batches(rows, 20_000):
                copy.write("".join([line % r for r in some]))
        match = " AND ".join(f"t.{c} = s.{c}" for c in columns[:key])
        first = columns[0]
        if first in TIME_KEYS:
            match += (  # constants of this module, as below
                f" AND t.{first} BETWEEN (SELECT min({first}) FROM {stage}) "  # noqa: S608
                f"AND (SELECT max({first}) FROM {stage})"
            )
        updates = ", ".join(_merged(c, "t", "s") for c in columns[key:])
        values = ", ".join(f"s.{c}" for c in columns)
        cursor.execute(
            # Table and column names are this module's constants; values are staged.
            f"MERGE INTO {table} t USING {stage} s ON {match} "  # noqa: S608
            f"WHEN MATCHED THEN UPDATE SET {updates} "
            f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})"
        )

    def runs(self, node: uuid.UUID, low: int, high: int) -> list[Run]:
        """Applied runs of `node` touching [low - 1, high + 1] (so adjacent runs merge)."""
        query = (
            select(UsageApplied.first_seq, UsageApplied.last_seq)
            .where(
                UsageApplied.node_id == node,
                UsageApplied.last_seq >= low - 1,
                UsageApplied.first_seq <= high + 1,
            )
            .order_by(UsageApplied.first_seq)
        )
        return [(int(a), int(b)) for a, b in self.session.execute(query)]

    def replace_runs(self, node: uuid.UUID, old: list[Run], new: list[Run]) -> None:
        key = self.key(str(node))
        for first, _ in old:
            self.session.execute(
                text("DELETE FROM usage_applied WHERE node_id = :n AND first_seq = :f"),
                {"n": key, "f": first},
            )
        if new:
            self.session.execute(
                text(
                    "INSERT INTO usage_applied (node_id, first_seq, last_seq) VALUES (:n, :f, :l)"
                ),
                [{"n": key, "f": f, "l": last} for f, last in new],
            )


def _merged(column: str, old: str, new: str) -> str:
    """`column = …` merging a new row (alias `new`) into the stored one (alias `old`).

    Bytes add up; the last activity and its node (the other columns merged here) only
    move forward, so a late record adds its bytes without making last activity older.
    """
    if column in ("uplink", "downlink"):
        return f"{column} = {old}.{column} + {new}.{column}"
    newer = f"{new}.last_at >= {old}.last_at"
    return f"{column} = CASE WHEN {newer} THEN {new}.{column} ELSE {old}.{column} END"


def _merge_runs(runs: Iterable[Run]) -> list[Run]:
    merged: list[Run] = []
    for first, last in sorted(runs):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _runs_of(seqs: list[int]) -> list[Run]:
    """Sorted, distinct sequences as runs of consecutive numbers."""
    if seqs and seqs[-1] - seqs[0] + 1 == len(seqs):
        return [(seqs[0], seqs[-1])]  # the usual page: one unbroken run
    runs: list[Run] = []
    for seq in seqs:
        if runs and seq == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    return runs


def _covered(runs: list[Run], seq: int) -> bool:
    at = bisect.bisect_right(runs, (seq, float("inf"))) - 1
    return at >= 0 and runs[at][0] <= seq <= runs[at][1]


def _in_order(records: Sequence[UsageLine]) -> list[UsageLine]:
    """Records by seq, the first of repeated seqs kept (pages arrive ordered already)."""
    seqs = [r.seq for r in records]
    if seqs == sorted(set(seqs)):  # strictly increasing, checked in C
        return list(records)
    seen: dict[int, UsageLine] = {}
    for record in records:
        seen.setdefault(record.seq, record)
    return [seen[seq] for seq in sorted(seen)]


def _fresh(
    store: _Store, node: uuid.UUID, records: Sequence[UsageLine], result: IngestResult
) -> list[UsageLine]:
    """The records of `node` not applied before, with the applied runs extended to them."""
    ordered = _in_order(records)
    result.received = len(ordered)
    if not ordered:
        return []
    low, high = ordered[0].seq, ordered[-1].seq
    old = store.runs(node, low, high)
    # The usual page continues the last run: nothing in it can be covered already.
    overlapping = [run for run in old if run[1] >= low and run[0] <= high]
    fresh = [r for r in ordered if not _covered(overlapping, r.seq)] if overlapping else ordered
    if fresh:
        store.replace_runs(node, old, _merge_runs([*old, *_runs_of([r.seq for r in fresh])]))
    return fresh


# (user key, (local hour start ms, local day)) → [uplink, downlink, last end ms, its node]
Sums = dict[tuple[str, tuple[int, str]], list[Any]]


def apply_round(
    session: Session, pages: Mapping[uuid.UUID, Sequence[UsageLine]], tz: ZoneInfo
) -> dict[uuid.UUID, IngestResult]:
    """Apply several nodes' records (any order, any repeats) inside the caller's transaction."""
    with paused_gc():
        return _apply_round(session, pages, tz)


def _apply_round(
    session: Session, pages: Mapping[uuid.UUID, Sequence[UsageLine]], tz: ZoneInfo
) -> dict[uuid.UUID, IngestResult]:
    store = _Store(session)
    results = {node: IngestResult() for node in pages}
    nodes = sorted((n for n, recs in pages.items() if recs), key=str)
    store.lock_nodes(nodes)
    fresh = {node: _fresh(store, node, pages[node], results[node]) for node in nodes}

    bucket_of = _Buckets(tz).of
    # Summed by the name as journaled first (one dict lookup per record), resolved after.
    by_name: dict[tuple[int, str], dict[str, list[Any]]] = {}
    per_node: dict[tuple[str, str], list[int]] = {}
    for node in nodes:
        node_key = store.key(str(node))
        # A journal flush writes every user with one end time: take such runs together.
        for t1, run in groupby(fresh[node], key=_END):
            bucket = bucket_of(t1)
            named = by_name.setdefault(bucket, {})
            up_sum = down_sum = 0
            # The hot loop (a million records a round): locals and dict lookups only.
            for r in run:
                up, down = r.up, r.down
                up_sum += up
                down_sum += down
                entry = named.get(r.user)
                if entry is None:
                    named[r.user] = [up, down, t1, node_key]
                else:
                    entry[0] += up
                    entry[1] += down
                    if t1 >= entry[2]:
                        entry[2] = t1
                        entry[3] = node_key
            _add(per_node, (bucket[1], node_key), up_sum, down_sum)
    names = set().union(*by_name.values())
    canonical = {n: _canonical(n) for n in names}
    keys = {c: store.key(c) for c in canonical.values() if c is not None}
    known = store.known_users(set(keys.values()))
    user_of = {
        n: keys[c] if c is not None and keys[c] in known else None for n, c in canonical.items()
    }
    unknown = _unknown(store, nodes, fresh, user_of, results, per_node, bucket_of)
    sums: Sums = {}
    for bucket, named in by_name.items():
        for name, (up, down, last, node_key) in named.items():
            user = user_of[name]
            if user is None:
                continue
            entry = sums.get((user, bucket))
            if entry is None:
                sums[(user, bucket)] = [up, down, last, node_key]
            else:  # the same user journaled under two spellings of its id
                entry[0] += up
                entry[1] += down
                if last >= entry[2]:
                    entry[2], entry[3] = last, node_key
    for node in nodes:
        results[node].applied = len(fresh[node]) - results[node].unknown
    for result in results.values():
        result.duplicates = result.received - result.applied - result.unknown
    _write(store, sums, per_node, unknown, {k: c for c, k in keys.items()})
    return results


def _unknown(
    store: _Store,
    nodes: Sequence[uuid.UUID],
    fresh: Mapping[uuid.UUID, Sequence[UsageLine]],
    user_of: Mapping[str, str | None],
    results: Mapping[uuid.UUID, IngestResult],
    per_node: dict[tuple[str, str], list[int]],
    bucket_of: Any,
) -> list[tuple[Any, ...]]:
    """Rows for records naming no known user, taken back out of the node sums."""
    strangers = {name for name, user in user_of.items() if user is None}
    rows: list[tuple[Any, ...]] = []
    if not strangers:
        return rows
    for node in nodes:
        node_key = store.key(str(node))
        result = results[node]
        for r in fresh[node]:
            if r.user in strangers:
                rows.append(
                    (node_key, r.seq, r.user[:128], r.up, r.down, _stamp(r.t0), _stamp(r.t1))
                )
                result.unknown += 1
                result.unknown_users.add(r.user)
                _add(per_node, (bucket_of(r.t1)[1], node_key), -r.up, -r.down)
    return rows


def _add(into: dict[Any, list[int]], key: Any, up: int, down: int) -> None:
    row = into.get(key)
    if row is None:
        into[key] = [up, down]
    else:
        row[0] += up
        row[1] += down


class _Writes:
    """The round's writes, in order, on one thread of their own while the caller builds
    the next table's rows: the database works (on another core) while Python sums.

    The caller's session is used by that thread alone until `wait`, which re-raises the
    first failure; the writes after a failure are skipped (the transaction is lost)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="vpanel-ingest")
        self._pending: list[Future[None]] = []
        self._failed = False

    def __enter__(self) -> _Writes:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            for future in self._pending:
                future.result()
        finally:
            self._pool.shutdown(wait=True)

    def submit(self, write: Callable[..., object], *args: Any) -> None:
        self._pending.append(self._pool.submit(self._run, write, args))

    def _run(self, write: Callable[..., object], args: tuple[Any, ...]) -> None:
        if self._failed:
            return
        try:
            write(*args)
        except BaseException:
            self._failed = True
            raise


def _write(
    store: _Store,
    sums: Sums,
    per_node: dict[tuple[str, str], list[int]],
    unknown: list[tuple[Any, ...]],
    canonical: dict[str, str],
) -> None:
    stamps = {ms: _stamp(ms) for ms in {hour for _, (hour, _) in sums}}
    with _Writes() as writes:
        # A bucket's hour fixes its day, so (user, hour) is already unique in `sums`.
        writes.submit(
            store.upsert,
            "usage_hourly",
            ("hour", "user_id", "uplink", "downlink"),
            2,
            [
                (stamps[hour], user, up, down)
                for (user, (hour, _)), (up, down, _, _) in sums.items()
            ],
        )
        daily: dict[tuple[str, str], list[int]] = {}
        totals: dict[str, list[Any]] = {}
        for (user, (_, day)), (up, down, last, node) in sums.items():
            same_day = daily.get((user, day))
            if same_day is None:
                daily[(user, day)] = [up, down]
            else:
                same_day[0] += up
                same_day[1] += down
            total = totals.get(user)
            if total is None:
                totals[user] = [up, down, last, node]
            else:
                total[0] += up
                total[1] += down
                if last >= total[2]:
                    total[2], total[3] = last, node
        writes.submit(
            store.upsert,
            "usage_daily",
            ("day", "user_id", "uplink", "downlink"),
            2,
            [(d, u, a, b) for (u, d), (a, b) in daily.items()],
        )
        writes.submit(
            store.upsert,
            "usage_node_daily",
            ("day", "node_id", "uplink", "downlink"),
            2,
            [(d, n, a, b) for (d, n), (a, b) in per_node.items()],
        )
        ends = {ms: _stamp(ms) for ms in {total[2] for total in totals.values()}}
        writes.submit(
            store.upsert,
            "usage_totals",
            ("user_id", "uplink", "downlink", "last_at", "last_node_id"),
            1,
            [(u, a, b, ends[t], n) for u, (a, b, t, n) in totals.items()],
        )
        writes.submit(_drop_old_hours, store, unknown)
        # The portal learns of new usage per user and day, like any other published change.
        marks = [("usage", change_key(canonical[u], d)) for u, d in daily]
        writes.submit(changes.mark, store.session, marks)


def _drop_old_hours(store: _Store, unknown: list[tuple[Any, ...]]) -> None:
    """Hours past retention live on in the days; dropping them keeps the table bounded.
    Also stores the records of unknown users."""
    cutoff = utcnow() - timedelta(days=HOURLY_RETENTION_DAYS)
    store.session.execute(delete(UsageHourly).where(UsageHourly.hour < cutoff))
    if unknown:
        store.session.execute(
            text(
                "INSERT INTO usage_unknown (node_id, seq, user_name, uplink, downlink, "
                "started_at, ended_at) VALUES (:n, :s, :u, :a, :b, :t0, :t1) ON CONFLICT DO NOTHING"
            ),
            [dict(zip(("n", "s", "u", "a", "b", "t0", "t1"), row, strict=True)) for row in unknown],
        )


def apply_records(
    session: Session, node_id: uuid.UUID, records: Sequence[UsageLine], tz: ZoneInfo
) -> IngestResult:
    """Apply one node's records (any order, any repeats) inside the caller's transaction."""
    return apply_round(session, {node_id: records}, tz)[node_id]
