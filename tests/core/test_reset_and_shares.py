"""Reset instants in the operator's zone (DST included) and the cross-node quota split."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from vpanel_core.entitlement import ResetStrategy, period_start
from vpanel_core.usage.shares import Split, split_allowance

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def test_daily_reset_on_the_day_clocks_spring_forward_is_local_midnight() -> None:
    # 2026-03-08: New York jumps from 02:00 EST to 03:00 EDT; midnight was still EST (-5).
    now = datetime(2026, 3, 8, 15, 0, tzinfo=UTC)
    assert period_start(ResetStrategy.DAILY, now, NEW_YORK) == datetime(
        2026, 3, 8, 5, 0, tzinfo=UTC
    )


def test_daily_reset_the_day_after_spring_forward_uses_the_new_offset() -> None:
    now = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
    assert period_start(ResetStrategy.DAILY, now, NEW_YORK) == datetime(
        2026, 3, 9, 4, 0, tzinfo=UTC
    )


def test_monthly_reset_across_the_autumn_change_is_the_first_at_local_midnight() -> None:
    # Berlin leaves summer time on 2026-10-25; on 1 November midnight is CET (+1).
    now = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
    assert period_start(ResetStrategy.MONTHLY, now, BERLIN) == datetime(
        2026, 10, 31, 23, 0, tzinfo=UTC
    )


def test_weekly_reset_starts_on_monday_and_yearly_on_january_first() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # a Thursday
    assert period_start(ResetStrategy.WEEKLY, now, BERLIN) == datetime(
        2026, 11, 22, 23, 0, tzinfo=UTC
    )
    assert period_start(ResetStrategy.YEARLY, now, BERLIN) == datetime(
        2025, 12, 31, 23, 0, tzinfo=UTC
    )
    assert period_start(ResetStrategy.NONE, now, BERLIN) is None


@settings(max_examples=200)
@given(
    st.integers(0, 2**50),
    st.lists(st.integers(0, 2**40), min_size=1, max_size=12),
)
def test_node_shares_never_add_up_to_more_than_what_is_left(remaining, recent_usage) -> None:
    """Property: Σ shares ≤ remaining, so several nodes together cannot overshoot."""
    nodes = list(range(len(recent_usage)))
    shares = split_allowance(remaining, nodes, dict(zip(nodes, recent_usage, strict=True)))
    values = [v for v in shares.values() if v is not None]
    assert len(values) == len(nodes)
    assert sum(values) <= remaining
    assert all(v >= 0 for v in values)


@settings(max_examples=200)
@given(
    st.one_of(st.none(), st.integers(0, 2**62)),
    st.lists(st.integers(0, 2**40), max_size=12),
    st.integers(0, 12),
)
def test_one_nodes_portion_is_its_share_of_the_whole_split(remaining, recent_usage, node) -> None:
    """Property: a node's file, which asks one node's portion, gets what the whole split
    gives that node, and 0 off the split (`shares(...).get(node, 0)`)."""
    nodes = list(range(len(recent_usage)))
    split = Split.of(nodes, dict(zip(nodes, recent_usage, strict=True)))
    expected = split.shares(remaining).get(node, 0)
    assert split.portion(remaining, split.weights.get(node)) == expected


def test_a_node_the_user_lives_on_gets_most_of_the_allowance() -> None:
    shares = split_allowance(1000, ["hk", "jp"], {"hk": 900, "jp": 100})
    assert shares["hk"] is not None and shares["jp"] is not None
    assert shares["hk"] > shares["jp"] > 0


def test_unlimited_allowance_stays_unlimited_on_every_node() -> None:
    assert split_allowance(None, ["hk", "jp"], {}) == {"hk": None, "jp": None}
