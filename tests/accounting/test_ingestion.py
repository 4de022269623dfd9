"""Applying journal records on SQLite and PostgreSQL: once, in bulk, with rollups and reports."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from tests.accounting.helpers import REPO, LocalShell, make_node, make_users
from vpanel_core.db import transaction
from vpanel_core.models import UsageCursor, UsageDaily, UsageRecord, UsageUnknown
from vpanel_core.runtime import Database
from vpanel_core.usage.collect import NodeJournal, collect_node
from vpanel_core.usage.history import top_users, usage_per_day
from vpanel_core.usage.ingest import apply_records
from vpanel_core.usage.schema import UsageLine
from vpanel_node.journal import Journal, read_ack

UTC_ZONE = ZoneInfo("UTC")


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
        total = s.scalar(select(func.sum(UsageRecord.uplink + UsageRecord.downlink)))
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
        assert s.scalar(select(func.count()).select_from(UsageRecord)) == 1
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
        used = s.scalar(select(func.sum(UsageRecord.downlink)))
    assert cursor is not None and cursor.applied_seq == 22
    assert used == 21 * 1000
    # Collecting again (or a node replaying) applies nothing new.
    assert collect_node(shell, database.sessions, node.id, where).applied == 0
