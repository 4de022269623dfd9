"""Applying journal records on SQLite and PostgreSQL: once, in bulk, with rollups and reports."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from tests.accounting.helpers import REPO, LocalShell, make_node, make_users
from vpanel_core.db import transaction
from vpanel_core.entitlement import (
    GrantFact,
    GrantKind,
    ResetStrategy,
    UsageFact,
    period_start,
    sum_usage,
    usage_floor,
)
from vpanel_core.models import (
    Node,
    UsageApplied,
    UsageCursor,
    UsageDaily,
    UsageHourly,
    UsageNodeDaily,
    UsageTotal,
    UsageUnknown,
    User,
)
from vpanel_core.runtime import Database
from vpanel_core.timeutil import utcnow
from vpanel_core.usage.collect import NodeJournal, collect_node
from vpanel_core.usage.history import top_users, usage_per_day
from vpanel_core.usage.ingest import apply_records, apply_round
from vpanel_core.usage.period import period_usage
from vpanel_core.usage.schema import UsageLine
from vpanel_node.journal import Journal, read_ack

UTC_ZONE = ZoneInfo("UTC")
# Ingestion writes through raw driver cursors: their errors are not wrapped.
DRIVER_ERRORS = (DBAPIError, sqlite3.Error, psycopg.Error)


def _ms(year: int, month: int, day: int, hour: int) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC_ZONE).timestamp() * 1000)


def test_same_records_applied_twice_count_once(database: Database) -> None:
    with transaction(database.sessions) as s:
        user = make_users(s, 1)[0]
        node = make_node(s)
    t = _ms(2026, 3, 1, 12)
    records = [UsageLine(i, str(user.id), 100, 1000, t, t + 1000) for i in range(1, 6)]
    with transaction(database.sessions) as s:
        first = apply_records(s, node.id, records, UTC_ZONE)
    with transaction(database.sessions) as s:
        again = apply_records(s, node.id, records[2:] + records[:1], UTC_ZONE)
    assert (first.applied, first.duplicates) == (5, 0)
    assert (again.applied, again.duplicates) == (0, 4)
    with database.sessions() as s:
        total = s.scalar(select(func.sum(UsageTotal.uplink + UsageTotal.downlink)))
        daily = s.scalars(select(UsageDaily)).all()
    assert total == 5 * 1100
    assert [(d.day, d.uplink, d.downlink) for d in daily] == [(date(2026, 3, 1), 500, 5000)]


def test_unknown_user_names_are_reported_and_counted_against_nobody(database: Database) -> None:
    with transaction(database.sessions) as s:
        user = make_users(s, 1)[0]
        node = make_node(s)
    t = _ms(2026, 3, 1, 12)
    records = [
        UsageLine(1, str(user.id), 1, 2, t, t),
        UsageLine(2, "not-a-uuid", 10, 20, t, t),
        UsageLine(3, str(uuid.uuid4()), 100, 200, t, t),
    ]
    with transaction(database.sessions) as s:
        result = apply_records(s, node.id, records, UTC_ZONE)
    assert (result.applied, result.unknown) == (1, 2)
    assert "not-a-uuid" in result.unknown_users
    with database.sessions() as s:
        assert s.scalar(select(func.sum(UsageTotal.uplink + UsageTotal.downlink))) == 3
        assert s.scalar(select(func.sum(UsageUnknown.uplink))) == 110


def test_any_uuid_spelling_resolves_and_odd_names_are_kept_verbatim(database: Database) -> None:
    with transaction(database.sessions) as s:
        user = make_users(s, 1)[0]
        node = make_node(s)
    t = _ms(2026, 3, 1, 12)
    odd = "tab\there\\back\nslash\r"
    records = [
        UsageLine(1, str(user.id).upper(), 1, 0, t, t),
        UsageLine(2, "{" + user.id.hex + "}", 2, 0, t, t),
        UsageLine(3, odd, 4, 0, t, t),
        UsageLine(3, str(user.id), 8, 0, t, t),  # a repeated seq within the page: first wins
        UsageLine(4, str(user.id), 16, 0, t, t),
    ]
    with transaction(database.sessions) as s:
        result = apply_records(s, node.id, records, UTC_ZONE)
    assert (result.received, result.applied, result.unknown) == (4, 3, 1)
    assert result.unknown_users == {odd}
    with database.sessions() as s:
        assert s.scalars(select(UsageUnknown.user_name)).all() == [odd]
        assert s.scalar(select(func.sum(UsageDaily.uplink))) == 19


def test_daily_rollup_buckets_by_operator_day_of_record_end(database: Database) -> None:
    zone = ZoneInfo("Asia/Shanghai")  # UTC+8: 20:00 UTC is already tomorrow there
    with transaction(database.sessions) as s:
        users = make_users(s, 2)
        node = make_node(s)
    late = _ms(2026, 3, 1, 20)
    early = _ms(2026, 3, 1, 10)
    records = [
        UsageLine(1, str(users[0].id), 0, 700, early, early),
        UsageLine(2, str(users[0].id), 0, 300, late, late),
        UsageLine(3, str(users[1].id), 0, 5000, late, late),
    ]
    with transaction(database.sessions) as s:
        apply_records(s, node.id, records, zone)
    with database.sessions() as s:
        per_day = usage_per_day(s, date(2026, 3, 1), date(2026, 3, 2), user_id=users[0].id)
        top = top_users(s, date(2026, 3, 1), date(2026, 3, 2))
    assert [(d.day, d.total) for d in per_day] == [(date(2026, 3, 1), 700), (date(2026, 3, 2), 300)]
    assert top == [(users[1].id, 5000), (users[0].id, 1000)]


def test_collection_pages_applies_acks_and_reports_skew_and_torn(
    database: Database, tmp_path: Path
) -> None:
    with transaction(database.sessions) as s:
        users = make_users(s, 3)
        node = make_node(s)
    journal = Journal(tmp_path).open()
    now = _ms(2026, 3, 1, 12)
    for round_ in range(7):  # a week of appends while the desktop was away
        journal.append([(str(u.id), round_, 1000, now, now + 1) for u in users], {}, [])
    journal.append([("stranger", 5, 5, now, now)], {}, [])
    with open(journal.path, "ab") as handle:
        handle.write(b'{"seq":23,"user":"x","up":1')  # a torn last line
    shell = LocalShell()
    where = NodeJournal(package_dir=str(REPO), journal_dir=str(tmp_path))
    report = collect_node(shell, database.sessions, node.id, where, page_size=5)
    assert report.pages == 5
    assert report.applied == 21
    assert report.unknown == 1 and report.unknown_users == {"stranger"}
    assert report.torn == 1  # reported once, never counted
    assert abs(report.clock_skew_ms) < 5_000
    assert read_ack(tmp_path) == 22
    with database.sessions() as s:
        cursor = s.get(UsageCursor, node.id)
        used = s.scalar(select(func.sum(UsageTotal.downlink)))
    assert cursor is not None and cursor.applied_seq == 22
    assert used == 21 * 1000
    # Collecting again (or a node replaying) applies nothing new.
    assert collect_node(shell, database.sessions, node.id, where).applied == 0


def test_pages_out_of_order_and_overlapping_count_each_record_once(database: Database) -> None:
    with transaction(database.sessions) as s:
        user = make_users(s, 1)[0]
        node = make_node(s)
    t = _ms(2026, 3, 1, 12)
    record = {seq: UsageLine(seq, str(user.id), 0, seq, t, t) for seq in range(1, 13)}
    applied = []
    for seqs in ([6, 7, 8, 9, 10], [1, 2, 3], [2, 3, 4, 5, 6, 7], [12], [11, 12, 1]):
        with transaction(database.sessions) as s:
            applied.append(apply_records(s, node.id, [record[q] for q in seqs], UTC_ZONE).applied)
    assert applied == [5, 3, 2, 1, 1]
    with database.sessions() as s:
        runs = s.execute(select(UsageApplied.first_seq, UsageApplied.last_seq)).all()
        used = s.scalar(select(UsageTotal.downlink))
    assert [tuple(r) for r in runs] == [(1, 12)]  # the runs merged back into one
    assert used == sum(range(1, 13))


def test_a_round_of_several_nodes_sums_per_user_and_per_node(database: Database) -> None:
    with transaction(database.sessions) as s:
        users = make_users(s, 2)
        first, second = make_node(s, "n1"), make_node(s, "n2")
    t = _ms(2026, 3, 1, 12)
    pages = {
        first.id: [
            UsageLine(1, str(users[0].id), 10, 100, t, t),
            UsageLine(2, "ghost", 1, 1, t, t),
        ],
        second.id: [
            UsageLine(1, str(users[0].id), 20, 200, t, t + 60_000),
            UsageLine(2, str(users[1].id), 30, 300, t, t),
        ],
    }
    with transaction(database.sessions) as s:
        results = apply_round(s, pages, UTC_ZONE)
    assert (results[first.id].applied, results[first.id].unknown) == (1, 1)
    assert (results[second.id].applied, results[second.id].duplicates) == (2, 0)
    with database.sessions() as s:
        totals = {t.user_id: t for t in s.scalars(select(UsageTotal))}
        per_node = {
            n: v for n, v in s.execute(select(UsageNodeDaily.node_id, UsageNodeDaily.downlink))
        }
    assert (totals[users[0].id].uplink, totals[users[0].id].downlink) == (30, 300)
    assert totals[users[0].id].last_node_id == second.id  # where its latest traffic went
    assert per_node == {first.id: 100, second.id: 500}  # the ghost's bytes count for nobody


# Record end times (minutes after a recent UTC midnight) over three days, with sizes.
_records = st.lists(
    st.tuples(st.integers(0, 3 * 24 * 60), st.integers(0, 10**9)), min_size=1, max_size=30
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    records=_records,
    reset_minute=st.none() | st.integers(0, 3 * 24 * 60),
    strategy=st.sampled_from([ResetStrategy.NONE, ResetStrategy.DAILY, ResetStrategy.MONTHLY]),
    zone=st.sampled_from(["UTC", "Asia/Shanghai", "Asia/Kolkata", "America/New_York"]),
    now_minute=st.integers(2 * 24 * 60, 4 * 24 * 60),
)
def test_rollups_count_exactly_what_the_ledger_rule_counts(
    database: Database,
    records: list[tuple[int, int]],
    reset_minute: int | None,
    strategy: ResetStrategy,
    zone: str,
    now_minute: int,
) -> None:
    """The hour/day rollups answer "bytes since the floor" as the pure ledger does, to the byte."""
    tz = ZoneInfo(zone)
    # Recent, so the hours are still within retention.
    epoch = (utcnow() - timedelta(days=5)).replace(hour=0, minute=0, second=0, microsecond=0)
    at = [epoch + timedelta(minutes=m) for m, _ in records]
    now = epoch + timedelta(minutes=now_minute)
    with transaction(database.sessions) as s:
        for table in (UsageApplied, UsageDaily, UsageHourly, UsageNodeDaily, UsageTotal):
            s.execute(delete(table))
        user = s.scalars(select(User)).first() or make_users(s, 1)[0]
        node = s.scalars(select(Node)).first() or make_node(s)
        lines = [
            UsageLine(
                i + 1,
                str(user.id),
                0,
                size,
                int(a.timestamp() * 1000) - 5,
                int(a.timestamp() * 1000),
            )
            for i, (a, (_, size)) in enumerate(zip(at, records, strict=True))
        ]
        apply_records(s, node.id, lines, tz)
    resets = []
    if reset_minute is not None:
        moment = epoch + timedelta(minutes=reset_minute)
        resets = [GrantFact("r", GrantKind.USAGE_RESET, moment, 0, 0, False, None)]
    floor = usage_floor(resets, period_start(strategy, now, tz), tz)
    facts = [
        UsageFact("n", i, size, a) for i, (a, (_, size)) in enumerate(zip(at, records, strict=True))
    ]
    with database.sessions() as s:
        got = period_usage(s, {user.id: floor}, tz, now).get(user.id, (0, 0))
    assert got[1] == sum_usage(facts, floor)


def test_two_collectors_racing_on_one_node_count_each_record_once(database: Database) -> None:
    with transaction(database.sessions) as s:
        users = make_users(s, 20)
        node = make_node(s)
    t = _ms(2026, 3, 1, 12)
    page = [UsageLine(i + 1, str(u.id), 1, 10, t, t) for i, u in enumerate(users)]
    start = threading.Barrier(2)
    applied: list[int] = []

    def collect() -> None:
        start.wait()
        for _ in range(20):  # SQLite may answer "locked" to the second writer: retry
            try:
                with transaction(database.sessions) as s:
                    applied.append(apply_records(s, node.id, page, UTC_ZONE).applied)
                return
            except OperationalError:
                time.sleep(0.05)

    workers = [threading.Thread(target=collect) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(applied) == [0, 20]
    with database.sessions() as s:
        assert s.scalar(select(func.sum(UsageTotal.downlink))) == 200


def test_a_write_failing_mid_round_applies_nothing_and_the_retry_counts_once(
    database: Database,
) -> None:
    """The rollups are written by a thread of their own while the round is summed: a
    failure in any of them (here the totals table is missing) must still lose the
    whole round, cursor runs included, so the node's retry applies it exactly once."""
    with transaction(database.sessions) as s:
        users = make_users(s, 3)
        node = make_node(s)
    t = _ms(2026, 3, 1, 12)
    page = [UsageLine(i + 1, str(u.id), 10, 100, t, t + 1000) for i, u in enumerate(users)]
    with database.engine.begin() as conn:
        conn.execute(text("ALTER TABLE usage_totals RENAME TO usage_totals_away"))
    try:
        with pytest.raises(DRIVER_ERRORS), transaction(database.sessions) as s:
            apply_round(s, {node.id: page}, UTC_ZONE)
    finally:
        with database.engine.begin() as conn:
            conn.execute(text("ALTER TABLE usage_totals_away RENAME TO usage_totals"))
    with database.sessions() as s:
        assert s.scalar(select(func.count()).select_from(UsageHourly)) == 0
        assert s.scalar(select(func.count()).select_from(UsageDaily)) == 0
        assert s.scalars(select(UsageApplied)).all() == []
    with transaction(database.sessions) as s:
        result = apply_round(s, {node.id: page}, UTC_ZONE)[node.id]
    assert (result.applied, result.duplicates) == (3, 0)
    with database.sessions() as s:
        assert s.scalar(select(func.sum(UsageTotal.downlink))) == 300
        assert s.scalar(select(func.sum(UsageDaily.uplink))) == 30
