"""Property tests of the entitlement ledger (pure derivation, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from vpanel_core.entitlement import (
    GrantFact,
    GrantKind,
    ResetStrategy,
    Status,
    UsageFact,
    derive,
    derive_status,
)

UTC_ZONE = ZoneInfo("UTC")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)

instants = st.integers(min_value=0, max_value=365 * 24 * 3600).map(
    lambda s: T0 + timedelta(seconds=s)
)


@st.composite
def grant_sets(draw: st.DrawFn) -> list[GrantFact]:
    count = draw(st.integers(min_value=0, max_value=12))
    grants: list[GrantFact] = []
    for index in range(count):
        kind = draw(st.sampled_from([GrantKind.EXTEND, GrantKind.TRAFFIC, GrantKind.USAGE_RESET]))
        grants.append(
            GrantFact(
                id=f"g{index}",
                kind=kind,
                effective_at=draw(instants),
                seconds=draw(st.integers(0, 90 * 86400)) if kind is GrantKind.EXTEND else 0,
                bytes=draw(st.integers(0, 1 << 40)) if kind is not GrantKind.USAGE_RESET else 0,
                unlimited=draw(st.booleans()) if kind is GrantKind.EXTEND else False,
            )
        )
    reversible = [g.id for g in grants]
    if reversible:
        for target in draw(st.lists(st.sampled_from(reversible), max_size=3, unique=True)):
            grants.append(
                GrantFact(
                    id=f"reversal:{target}",
                    kind=GrantKind.REVERSAL,
                    effective_at=draw(instants),
                    reverses=target,
                )
            )
    return grants


usage_sets = st.lists(
    st.builds(
        UsageFact,
        node_id=st.sampled_from(["n1", "n2", "n3"]),
        seq=st.integers(0, 50),
        bytes=st.integers(0, 1 << 30),
        at=instants,
    ),
    max_size=20,
    unique_by=lambda u: (u.node_id, u.seq),
)

strategies = st.sampled_from(list(ResetStrategy))


def run(grants, usage, strategy):
    return derive(grants, usage, enabled=True, strategy=strategy, now=NOW, tz=UTC_ZONE)


@settings(max_examples=200)
@given(grant_sets(), usage_sets, strategies, st.randoms())
def test_grant_order_does_not_change_entitlement(grants, usage, strategy, rnd):
    """Property: merging the same grants in any order gives the same entitlement."""
    shuffled = list(grants)
    rnd.shuffle(shuffled)
    assert run(grants, usage, strategy) == run(shuffled, usage, strategy)


@settings(max_examples=200)
@given(grant_sets(), usage_sets, strategies)
def test_merging_grants_twice_changes_nothing(grants, usage, strategy):
    """Property: a replica that receives every grant twice derives the same entitlement."""
    assert run(grants, usage, strategy) == run(grants + grants, usage, strategy)


@settings(max_examples=200)
@given(grant_sets(), grant_sets(), usage_sets, strategies)
def test_union_of_replicas_is_order_independent(left, right, usage, strategy):
    """Property: union(A, B) == union(B, A) — the sync merge rule is commutative."""
    right = [GrantFact(**{**_as_dict(g), "id": "r" + g.id}) for g in right]
    assert run(left + right, usage, strategy) == run(right + left, usage, strategy)


def _as_dict(g: GrantFact) -> dict[str, object]:
    return {s: getattr(g, s) for s in GrantFact.__slots__}


@settings(max_examples=200)
@given(grant_sets(), usage_sets, st.integers(0, 19))
def test_applying_a_usage_record_twice_counts_it_once(grants, usage, pick):
    """Property: usage is a set keyed by (node, seq); a duplicate delivery adds nothing."""
    if not usage:
        return
    grants = [g for g in grants if g.kind is not GrantKind.USAGE_RESET]
    duplicated = [*usage, usage[pick % len(usage)]]
    once = run(grants, usage, ResetStrategy.NONE)
    assert once == run(grants, duplicated, ResetStrategy.NONE)
    assert once.used == sum(u.bytes for u in usage)


@settings(max_examples=200)
@given(instants, st.integers(1, 400 * 86400))
def test_status_flips_to_expired_exactly_at_expiry(start, seconds):
    """Property: active one microsecond before expiry, expired at the exact instant."""
    expiry = start + timedelta(seconds=seconds)
    before = expiry - timedelta(microseconds=1)
    common = {"enabled": True, "expiry": expiry, "allowance": None, "used": 0}
    assert derive_status(**common, now=before) is Status.ACTIVE
    assert derive_status(**common, now=expiry) is Status.EXPIRED


@settings(max_examples=200)
@given(st.integers(1, 1 << 50), st.integers(0, 1 << 50))
def test_status_flips_to_traffic_exceeded_exactly_at_the_limit(allowance, delta):
    """Property: used == allowance - 1 is active, used >= allowance is exceeded."""
    expiry = NOW + timedelta(days=1)
    common = {"enabled": True, "expiry": expiry, "allowance": allowance, "now": NOW}
    assert derive_status(**common, used=allowance - 1) is Status.ACTIVE
    assert derive_status(**common, used=allowance + delta) is Status.TRAFFIC_EXCEEDED


def test_disabled_wins_over_every_other_state():
    assert (
        derive_status(enabled=False, expiry=None, allowance=0, used=10, now=NOW) is Status.DISABLED
    )


def test_time_bought_before_expiry_stacks_and_after_lapse_starts_fresh():
    day = 86400
    early = [
        GrantFact("a", GrantKind.EXTEND, T0, seconds=30 * day),
        GrantFact("b", GrantKind.EXTEND, T0 + timedelta(days=10), seconds=30 * day),
    ]
    ent = derive(early, [], enabled=True, strategy=ResetStrategy.NONE, now=T0, tz=UTC_ZONE)
    assert ent.expiry == T0 + timedelta(days=60)
    late = [
        GrantFact("a", GrantKind.EXTEND, T0, seconds=30 * day),
        GrantFact("b", GrantKind.EXTEND, T0 + timedelta(days=40), seconds=30 * day),
    ]
    ent = derive(late, [], enabled=True, strategy=ResetStrategy.NONE, now=T0, tz=UTC_ZONE)
    assert ent.expiry == T0 + timedelta(days=70)


def test_refund_reversal_removes_exactly_the_purchase():
    day = 86400
    grants = [
        GrantFact("p1", GrantKind.EXTEND, T0, seconds=30 * day, bytes=100),
        GrantFact("p2", GrantKind.EXTEND, T0, seconds=30 * day, bytes=50),
        GrantFact("reversal:p2", GrantKind.REVERSAL, T0 + timedelta(days=1), reverses="p2"),
    ]
    ent = derive(grants, [], enabled=True, strategy=ResetStrategy.NONE, now=T0, tz=UTC_ZONE)
    assert ent.expiry == T0 + timedelta(days=30)
    assert ent.allowance == 100


def test_monthly_reset_counts_only_this_months_usage_in_operator_zone():
    shanghai = ZoneInfo("Asia/Shanghai")
    now = datetime(2026, 3, 15, tzinfo=UTC)
    # 2026-02-28 16:30 UTC is 2026-03-01 00:30 in Shanghai: already the new month there.
    usage = [
        UsageFact("n", 1, 1000, datetime(2026, 2, 28, 15, 59, tzinfo=UTC)),
        UsageFact("n", 2, 7, datetime(2026, 2, 28, 16, 30, tzinfo=UTC)),
    ]
    grants = [GrantFact("p", GrantKind.EXTEND, T0, seconds=200 * 86400, bytes=5000)]
    ent = derive(grants, usage, enabled=True, strategy=ResetStrategy.MONTHLY, now=now, tz=shanghai)
    assert ent.period_start == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)
    assert ent.used == 7
    assert ent.remaining == 4993
