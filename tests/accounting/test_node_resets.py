"""Periodic resets at the node while the desktop is away: a user cut for using up the month
is served again at the operator's midnight, with the new share, counted by the desktop's
rule (a record counts in the period it ended in), across helper restarts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.accounting.node_dir import Clock, NodeDir
from vpanel_core.entitlement import ResetStrategy, UsageFact, period_start, sum_usage
from vpanel_core.usage.entitlements_file import upcoming_starts
from vpanel_node.enforcer import Entitled, combine
from vpanel_node.portal_feed import PortalFeed, PortalUser

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
# 2026-06-01 00:00 in Shanghai: the month boundary the tests cross.
JUNE = int(datetime(2026, 6, 1, tzinfo=SHANGHAI).timestamp() * 1000)
MAY = int(datetime(2026, 5, 1, tzinfo=SHANGHAI).timestamp() * 1000)
SECOND = 1000
DAY = 86_400_000


def entitlements(users: dict[str, dict[str, Any]], **resets: list[int]) -> dict[str, Any]:
    return {"generated_at": JUNE - 60 * SECOND, "as_of_seq": 0, "resets": resets, "users": users}


def monthly(remaining: int, share: int, expiry: int | None = None) -> dict[str, Any]:
    return {"expiry": expiry, "remaining": remaining, "reset": "monthly", "next_remaining": share}


def held(node: NodeDir) -> set[str]:
    return set(json.loads((node.root / "blocked.json").read_text())["held"])


def test_user_over_quota_before_the_month_ends_is_served_again_with_the_new_share(
    tmp_path: Path,
) -> None:
    clock = Clock(JUNE - 10 * SECOND)
    node = NodeDir(tmp_path, clock, ["spent", "refunded", "fine"])
    node.entitle(
        entitlements(
            {
                "spent": monthly(0, 1000),
                "refunded": monthly(5000, 1000, expiry=JUNE - 5 * SECOND),
                "fine": {"expiry": None, "remaining": None},
            },
            monthly=[JUNE],
        )
    )
    node.enforcer.tick()
    assert node.served() == {"refunded", "fine"}
    assert held(node) == {"spent"}

    clock.ms = JUNE  # the first instant of June, operator's zone; the desktop is off
    node.enforcer.tick()
    assert node.served() == {"spent", "fine"}  # expiry still cuts across the reset
    assert held(node) == {"refunded"}
    assert node.enforcer.over() == {"refunded"}
    assert node.reloads == 2


def test_usage_after_the_reset_counts_against_the_new_share_and_cuts_again(
    tmp_path: Path,
) -> None:
    clock = Clock(JUNE - 60 * SECOND)
    node = NodeDir(tmp_path, clock, ["u"])
    node.entitle(entitlements({"u": monthly(600, 1000)}, monthly=[JUNE]))
    node.journal("u", 500, JUNE - 30 * SECOND)
    assert node.enforcer.over() == set()
    node.journal("u", 200, JUNE - 1)  # May's last millisecond: still May
    assert node.enforcer.over() == {"u"}

    clock.ms = JUNE + SECOND
    assert node.enforcer.over() == set()
    node.journal("u", 400, JUNE)  # ended at the boundary: June's
    node.pending("u", 500)  # not journaled yet: journaled later, so June's too
    assert node.enforcer.used_since("u", JUNE) == 400
    assert node.enforcer.over() == set()  # 900 < 1000
    node.journal("u", 100, JUNE + 2 * SECOND)
    assert node.enforcer.over() == {"u"}  # 1000 >= 1000
    node.enforcer.tick()
    assert node.served() == set()


def test_restarted_helper_decides_the_same_after_the_reset(tmp_path: Path) -> None:
    clock = Clock(JUNE - 60 * SECOND)
    node = NodeDir(tmp_path, clock, ["light", "heavy", "old"])
    node.entitle(
        entitlements(
            {
                "light": monthly(0, 2000),
                "heavy": monthly(10_000, 1000),
                "old": {"expiry": None, "remaining": 3000},
            },
            monthly=[JUNE],
            daily=[JUNE - DAY, JUNE, JUNE + DAY],
        )
    )
    for at, size in [(JUNE - 20 * SECOND, 2000), (JUNE + 5 * SECOND, 600), (JUNE + DAY, 500)]:
        node.journal("light", size, at)
        node.journal("heavy", size * 2, at)
        node.journal("old", size, at)
    clock.ms = JUNE + DAY + SECOND
    before = node.enforcer.over()
    counts = [node.enforcer.used_since(n, JUNE) for n in ("light", "heavy", "old")]
    node.restart()
    assert before == node.enforcer.over() == {"heavy", "old"}
    assert [node.enforcer.used_since(n, JUNE) for n in ("light", "heavy", "old")] == counts
    assert counts == [1100, 2200, 1100]


def test_a_week_offline_across_daily_resets_resets_every_midnight(tmp_path: Path) -> None:
    midnights = upcoming_starts(ResetStrategy.DAILY, datetime(2026, 3, 25, 12, tzinfo=UTC), BERLIN)
    starts = [int(m.timestamp() * 1000) for m in midnights]
    # Berlin moves to summer time on 29 March: that day has 23 hours.
    assert starts[4] - starts[3] == 23 * 3_600_000
    clock = Clock(starts[0] - 60 * SECOND)
    node = NodeDir(tmp_path, clock, ["daily"])
    user = {"expiry": None, "remaining": 0, "reset": "daily", "next_remaining": 700}
    node.entitle({"as_of_seq": 0, "resets": {"daily": starts}, "users": {"daily": user}})
    for day in range(7):
        clock.ms = starts[day] - SECOND
        node.enforcer.tick()
        assert node.served() == set(), day
        clock.ms = starts[day]
        node.enforcer.tick()
        assert node.served() == {"daily"}, day
        node.journal("daily", 700, starts[day] + 3_600_000)
        clock.ms = starts[day] + 3_600_000
        node.enforcer.tick()
        assert node.served() == set(), day


def test_old_file_without_reset_keys_still_enforces(tmp_path: Path) -> None:
    clock = Clock(JUNE - 60 * SECOND)
    node = NodeDir(tmp_path, clock, ["capped", "expiring"])
    node.entitle(
        {
            "as_of_seq": 0,
            "users": {
                "capped": {"expiry": None, "remaining": 1000},
                "expiring": {"expiry": JUNE + DAY, "remaining": None},
            },
        }
    )
    node.journal("capped", 1000, JUNE - 30 * SECOND)
    node.enforcer.tick()
    assert node.served() == {"expiring"}
    clock.ms = JUNE + DAY  # no reset known: a new month changes nothing, expiry still cuts
    node.enforcer.tick()
    assert node.served() == set()


def portal_item(name: str, allowance: int, used: int, period_start_ms: int) -> dict[str, Any]:
    start = datetime.fromtimestamp(period_start_ms / 1000, UTC).isoformat()
    return {
        "name": name,
        "uuid": "00000000-0000-0000-0000-000000000001",
        "password": "pw",
        "expiry": None,
        "allowance": allowance,
        "used": used,
        "period_start": start,
    }


def test_portal_answer_from_before_the_reset_does_not_decide_after_it(tmp_path: Path) -> None:
    """The portal saw 5000 left in May (a top-up): that lifts May only, not June."""
    state = tmp_path / "portal-state.json"
    state.write_text(json.dumps({"users": [portal_item("u", 6000, 1000, MAY)]}))
    feed = PortalFeed(tmp_path / "portal.json", state)
    clock = Clock(JUNE - 60 * SECOND)
    node = NodeDir(tmp_path / "node", clock, ["u"], feed=feed)
    node.entitle(entitlements({"u": monthly(0, 1000)}, monthly=[JUNE], daily=[JUNE]))
    node.journal("u", 3000, JUNE - 30 * SECOND)
    node.enforcer.tick()
    assert node.served() == {"u"}  # the portal's grant counts in May

    clock.ms = JUNE + SECOND
    node.journal("u", 999, JUNE + SECOND)
    assert node.enforcer.over() == set()
    node.journal("u", 1, JUNE + SECOND)
    assert node.enforcer.over() == {"u"}  # June's share is 1000: May's leftovers stay in May


def test_portal_answer_for_the_new_period_joins_it_and_a_portal_only_user_counts_from_its_start(
    tmp_path: Path,
) -> None:
    mine = {"u": Entitled(None, 0, (JUNE,), 1000)}
    answer = {
        user.name: user
        for user in map(
            PortalUser.parse,
            [portal_item("u", 4000, 1000, JUNE), portal_item("newcomer", 800, 0, JUNE)],
        )
    }
    now = JUNE + SECOND
    combined = combine(mine, answer, now)
    assert combined["u"].period(now) == (JUNE, 3000)
    assert combined["u"].period(JUNE - SECOND) == (None, 0)
    assert combined["newcomer"].period(now) == (JUNE, 800)

    state = tmp_path / "portal-state.json"
    state.write_text(json.dumps({"users": [portal_item("newcomer", 800, 0, JUNE)]}))
    node = NodeDir(tmp_path / "node", Clock(now), [], PortalFeed(tmp_path / "p.json", state))
    node.entitle(entitlements({}, daily=[JUNE, JUNE + DAY]))
    node.journal("newcomer", 5000, JUNE - SECOND)  # May: not the portal's figure's concern
    node.journal("newcomer", 700, JUNE + SECOND)
    assert node.enforcer.over() == set()
    node.journal("newcomer", 100, JUNE + SECOND)
    assert node.enforcer.over() == {"newcomer"}


ZONES = [SHANGHAI, BERLIN, ZoneInfo("America/New_York")]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zone=st.sampled_from(ZONES),
    strategy=st.sampled_from([ResetStrategy.DAILY, ResetStrategy.WEEKLY, ResetStrategy.MONTHLY]),
    generated_minute=st.integers(0, 400 * 24 * 60),
    collected=st.lists(st.integers(1, 10**6), max_size=5),
    records=st.lists(
        st.tuples(st.integers(0, 12 * 24 * 60), st.integers(0, 10**9), st.booleans()),
        max_size=25,
    ),
    now_minute=st.integers(0, 12 * 24 * 60),
)
def test_node_count_in_a_period_is_the_desktops_count_over_the_same_records(
    tmp_path_factory: Any,
    zone: ZoneInfo,
    strategy: ResetStrategy,
    generated_minute: int,
    collected: list[int],
    records: list[tuple[int, int, bool]],
    now_minute: int,
) -> None:
    """Property: at any moment after the file was written, the bytes the node holds
    against the current period equal `entitlement.sum_usage` over the same records with
    the desktop's floor (the period start), whether counted live or after a restart."""
    generated = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=generated_minute)
    gen_ms = int(generated.timestamp() * 1000)
    table = {
        s.value: [int(t.timestamp() * 1000) for t in upcoming_starts(s, generated, zone)]
        for s in ResetStrategy
        if s is not ResetStrategy.NONE
    }
    user = {"expiry": None, "remaining": 0, "reset": strategy.value, "next_remaining": 0}
    clock = Clock(gen_ms)
    node = NodeDir(tmp_path_factory.mktemp("node"), clock, ["u"])
    for size in collected:  # what the desktop applied before writing the file
        node.journal("u", size, gen_ms - 1000)
    as_of = len(collected)
    node.entitle({"as_of_seq": as_of, "resets": table, "users": {"u": user}})
    facts = [
        UsageFact("n", i + 1, size, generated - timedelta(seconds=1))
        for i, size in enumerate(collected)
    ]
    now = generated + timedelta(minutes=now_minute)
    clock.ms = int(now.timestamp() * 1000)
    ends = sorted((gen_ms + minute * 60_000 + odd, size) for minute, size, odd in records)
    ends = [(t1, size) for t1, size in ends if t1 <= clock.ms]  # journaled by now
    for t1, size in ends:
        node.journal("u", size, t1)
        facts.append(UsageFact("n", len(facts) + 1, size, datetime.fromtimestamp(t1 / 1000, UTC)))
    start, _ = node.enforcer.entitled["u"].period(clock.ms)
    live = node.enforcer.used_since("u", start)
    if start is None:  # still the file's period: everything after its snapshot
        assert live == sum(size for _, size in ends)
    else:
        floor = period_start(strategy, now, zone)
        assert floor is not None and int(floor.timestamp() * 1000) == start
        assert live == sum_usage(facts, floor)
    node.restart()
    assert node.enforcer.used_since("u", start) == live
