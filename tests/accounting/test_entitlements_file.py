"""The entitlements file's reset schedule, built from the ledger in the operator's zone,
and the round trip: the node resets alone, and the desktop agrees when it is back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.accounting.helpers import make_node
from tests.accounting.node_dir import Clock, NodeDir
from vpanel_core import settings
from vpanel_core.credentials import inbound_user_name
from vpanel_core.db import transaction
from vpanel_core.entitlement import GrantKind, ResetStrategy, Status, period_start
from vpanel_core.models import UsageCursor, User
from vpanel_core.runtime import Database
from vpanel_core.services.ledger import add_grant, entitlements
from vpanel_core.services.nodes import NewNode, create_node
from vpanel_core.services.users import NewUser, create_user
from vpanel_core.sync.node_access import entitlements_for_node
from vpanel_core.timeutil import utcnow
from vpanel_core.usage import entitlements_file, refresh
from vpanel_core.usage.ingest import apply_records
from vpanel_core.usage.schema import UsageLine
from vpanel_core.usage.shares import LAST_NODE_WEIGHT, allowed_on, split_allowance
from vpanel_node.journal import scan
from vpanel_node.portal_feed import PortalUser

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
DAY_MS = 86_400_000


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def customer(
    session: Session,
    name: str,
    strategy: str,
    since: datetime,
    *,
    days: int = 90,
    quota: int = 0,
    unlimited: bool = False,
) -> User:
    user = create_user(session, NewUser(username=name, reset_strategy=strategy))
    add_grant(
        session,
        user.id,
        GrantKind.EXTEND,
        seconds=days * 86_400,
        byte_count=quota,
        unlimited=unlimited,
        effective_at=since,
    )
    return user


def test_monthly_user_gets_the_shanghai_month_start_and_a_share_of_the_full_quota(
    database: Database,
) -> None:
    may = datetime(2026, 5, 1, tzinfo=SHANGHAI)
    now = datetime(2026, 5, 20, 12, tzinfo=SHANGHAI)  # a Wednesday
    with transaction(database.sessions) as s:
        settings.put(s, "timezone", "Asia/Shanghai")
        first, second = make_node(s, "hk"), make_node(s, "jp")
        monthly = customer(s, "monthly", "monthly", may, quota=1000)
        add_grant(s, monthly.id, GrantKind.TRAFFIC, byte_count=500, effective_at=may + timedelta(9))
        users = [
            monthly,
            customer(s, "lifetime", "none", may, quota=1000),
            customer(s, "unlimited", "monthly", may, unlimited=True),
            customer(s, "lapsed", "monthly", may, days=1, quota=1000),
        ]
        t1 = ms(may + timedelta(days=14))
        name = inbound_user_name(monthly.id)
        apply_records(s, first.id, [UsageLine(1, name, 0, 1200, t1 - 1000, t1)], SHANGHAI)
    peers = [first.id, second.id]
    with database.sessions() as s:
        payload = entitlements_file.build(
            s, first.id, users, dict.fromkeys([u.id for u in users], peers), now
        )
    resets = payload["resets"]
    assert resets["monthly"] == [ms(datetime(2026, 6, 1, tzinfo=SHANGHAI))]
    assert resets["monthly"] == [ms(datetime(2026, 5, 31, 16, tzinfo=UTC))]
    assert resets["weekly"][0] == ms(datetime(2026, 5, 25, tzinfo=SHANGHAI))  # Monday
    assert resets["yearly"] == [ms(datetime(2027, 1, 1, tzinfo=SHANGHAI))]
    assert resets["daily"][0] == ms(datetime(2026, 5, 21, tzinfo=SHANGHAI))
    assert len(resets["daily"]) == 40
    assert {b - a for a, b in zip(resets["daily"], resets["daily"][1:], strict=False)} == {DAY_MS}

    recent = {first.id: LAST_NODE_WEIGHT}
    entries = payload["users"]
    assert entries[name] == {
        "expiry": ms(may + timedelta(days=90)),
        "remaining": split_allowance(1500 - 1200, peers, recent)[first.id],
        "reset": "monthly",
        # June's quota: May's top-up stays in May.
        "next_remaining": split_allowance(1000, peers, recent)[first.id],
    }
    for user in users[1:]:  # no periodic limit, or cut anyway
        assert "reset" not in entries[inbound_user_name(user.id)]


def test_daily_starts_follow_berlin_midnight_across_the_change_to_summer_time(
    database: Database,
) -> None:
    now = datetime(2026, 3, 20, 12, tzinfo=UTC)
    with transaction(database.sessions) as s:
        settings.put(s, "timezone", "Europe/Berlin")
        node = make_node(s)
        user = customer(s, "daily", "daily", datetime(2026, 3, 1, tzinfo=UTC), quota=2000)
    with database.sessions() as s:
        payload = entitlements_file.build(s, node.id, [user], {}, now)
    daily = [datetime.fromtimestamp(t / 1000, BERLIN) for t in payload["resets"]["daily"]]
    assert all(d.time() == time(0) for d in daily)
    assert [d.date() - daily[0].date() for d in daily] == [timedelta(i) for i in range(40)]
    before, after = (ms(datetime(2026, 3, d, tzinfo=BERLIN)) for d in (29, 30))
    assert before == ms(datetime(2026, 3, 28, 23, tzinfo=UTC))  # CET
    assert after == ms(datetime(2026, 3, 29, 22, tzinfo=UTC))  # CEST
    assert {before, after} <= set(payload["resets"]["daily"])
    assert payload["resets"]["weekly"][:2] == [ms(datetime(2026, 3, 22, 23, tzinfo=UTC)), after]
    assert payload["resets"]["monthly"] == [ms(datetime(2026, 3, 31, 22, tzinfo=UTC))]
    entry = payload["users"][inbound_user_name(user.id)]
    assert entry["reset"] == "daily" and entry["next_remaining"] == 2000


def test_fleet_files_say_what_a_build_for_each_node_says(database: Database) -> None:
    """Issue #10: one derivation for the fleet gives every node the file a derivation for
    that node alone gives: its users (by group), shares, resets and `as_of_seq`."""
    may = datetime(2026, 5, 1, tzinfo=SHANGHAI)
    now = datetime(2026, 5, 20, 12, tzinfo=SHANGHAI)
    with transaction(database.sessions) as s:
        settings.put(s, "timezone", "Asia/Shanghai")
        asia = [create_node(s, NewNode(f"asia{i}", "127.0.0.1", group="asia")) for i in range(2)]
        nodes = [*asia, create_node(s, NewNode("eu", "127.0.0.1", group="eu"))]
        create_node(s, NewNode("asia-off", "127.0.0.1", group="asia")).enabled = False
        users = [
            customer(s, "monthly", "monthly", may, quota=1000),
            customer(s, "daily", "daily", may, quota=300),
            customer(s, "lifetime", "none", may, quota=5000),
            customer(s, "unlimited", "monthly", may, unlimited=True),
            customer(s, "lapsed", "monthly", may, days=1, quota=1000),
        ]
        users[0].node_groups, users[2].node_groups = ["asia"], ["eu"]
        t1 = ms(may + timedelta(days=14))
        lines = [
            UsageLine(i + 1, inbound_user_name(u.id), 0, 100, t1 - 1000, t1)
            for i, u in enumerate(users)
        ]
        apply_records(s, asia[1].id, lines, SHANGHAI)
        cursor = s.get(UsageCursor, asia[1].id)
        assert cursor is not None
        cursor.applied_seq = len(lines)
    with database.sessions() as s:
        files = refresh.entitlement_files(s, [n.id for n in nodes], now)
        everyone = s.scalars(select(User).order_by(User.id)).all()
        peers = {
            u.id: [n.id for n in nodes if allowed_on(u.node_groups, n.group)] for u in everyone
        }
        for node in nodes:
            allowed = [u for u in everyone if allowed_on(u.node_groups, node.group)]
            expected = entitlements_file.build(s, node.id, allowed, peers, now)
            assert files.payload(node.id) == expected
    assert files.payload(asia[1].id)["as_of_seq"] == len(lines)
    assert inbound_user_name(users[2].id) not in files.payload(asia[0].id)["users"]


def collect(database: Database, node_id: uuid.UUID, node: NodeDir) -> None:
    """What collection does, minus SSH: apply the node's journal, move the cursor."""
    records = scan(node.accountant.journal.path.read_bytes()).records
    with transaction(database.sessions) as s:
        apply_records(s, node_id, records, SHANGHAI)  # each (node, seq) counts once
        cursor = s.get(UsageCursor, node_id)
        assert cursor is not None
        cursor.applied_seq = records[-1].seq


def test_node_restores_the_user_at_the_month_start_and_the_desktop_agrees_when_back(
    database: Database, tmp_path: Path
) -> None:
    june = datetime(2026, 6, 1, tzinfo=SHANGHAI)
    with transaction(database.sessions) as s:
        settings.put(s, "timezone", "Asia/Shanghai")
        node_row = make_node(s)
        user = customer(s, "monthly", "monthly", datetime(2026, 5, 1, tzinfo=SHANGHAI), quota=1000)
    name, node_id = inbound_user_name(user.id), node_row.id
    clock = Clock(ms(june - timedelta(hours=4)))
    node = NodeDir(tmp_path, clock, [name])
    node.journal(name, 600, ms(june - timedelta(hours=4)))
    node.journal(name, 500, ms(june - timedelta(hours=1)))
    collect(database, node_id, node)

    def file_at(moment: datetime) -> dict[str, object]:
        with database.sessions() as s:
            return entitlements_file.build(s, node_id, [user], {user.id: [node_id]}, moment)

    node.entitle(file_at(june - timedelta(minutes=1)))  # the desktop's last push before June
    clock.ms = ms(june - timedelta(seconds=30))
    node.enforcer.tick()
    assert node.served() == set()  # 1100 of 1000 used in May

    clock.ms = ms(june) + 500  # the desktop is off
    node.enforcer.tick()
    assert node.served() == {name}
    node.journal(name, 100, ms(june - timedelta(seconds=10)))  # flushed late, ended in May
    node.journal(name, 300, ms(june + timedelta(minutes=10)))
    node.journal(name, 200, ms(june + timedelta(minutes=20)))
    clock.ms = ms(june + timedelta(minutes=30))
    assert node.enforcer.used_since(name, ms(june)) == 500
    assert node.enforcer.over() == set()

    back = june + timedelta(hours=1)  # the desktop comes back and collects
    collect(database, node_id, node)
    with database.sessions() as s:
        ent = entitlements(s, [user], back)[user.id]
    assert ent.used == 500 and ent.status is Status.ACTIVE
    node.entitle(file_at(back))
    clock.ms = ms(back)
    assert node.enforcer.used_since(name, None) == 0
    assert node.enforcer.entitled[name].remaining == 500
    node.journal(name, 500, ms(back) + 1000)
    assert node.enforcer.over() == {name}


def test_portal_pull_names_the_period_its_remaining_belongs_to(database: Database) -> None:
    with transaction(database.sessions) as s:
        settings.put(s, "timezone", "Asia/Shanghai")
        node = make_node(s)
        user = customer(s, "paid", "monthly", utcnow() - timedelta(days=1), quota=1000)
        lifetime = customer(s, "lifetime", "none", utcnow() - timedelta(days=1), quota=1000)
    with database.sessions() as s:
        before = period_start(ResetStrategy.MONTHLY, utcnow(), SHANGHAI)
        items = {i["name"]: PortalUser.parse(i) for i in entitlements_for_node(s, node.id)}
        after = period_start(ResetStrategy.MONTHLY, utcnow(), SHANGHAI)
    assert before is not None and after is not None
    assert items[inbound_user_name(user.id)].period_start_ms in {ms(before), ms(after)}
    assert items[inbound_user_name(lifetime.id)].period_start_ms is None
