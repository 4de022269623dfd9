"""The entitlement ledger: expiry, allowance, usage and status derived from facts.

Nothing here is stored state. A user's entitlement is a pure function of

* the set of grants (append-only, each with a globally unique id), and
* the set of usage records (keyed by (node, sequence)),

so two replicas that hold the same sets derive the same answer whatever order the
facts arrived in, and receiving a fact twice changes nothing (sets, not lists).

Rules (documented here because both replicas must agree):

* Grants are folded in the total order (effective_at, id). An ``extend`` grant moves
  the expiry to ``max(expiry, effective_at) + seconds``: time bought before expiry is
  added on top, time bought after a lapse starts when it was bought.
* A ``reversal`` grant cancels the grant it names (a refund); reversed grants are
  skipped in the fold, so a refund removes exactly what the purchase gave.
* Traffic: with reset strategy ``none`` the allowance is the sum of all bytes granted
  and used bytes count from the last ``usage_reset``. With a periodic strategy the
  allowance is the per-period quota of the latest grant that set one, plus top-ups
  (``traffic`` grants) effective in the current period; used bytes count from the
  later of the period start and the last ``usage_reset``. Usage is counted by the
  operator-local hour it ended in, so a reset takes effect from the next whole hour.
* ``unlimited`` on the latest quota-setting grant means no traffic limit.
* Status, in priority order: disabled, expired (no time ever granted, or now is at or
  past the expiry), traffic_exceeded (used >= allowance), active.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from vpanel_core.timeutil import require_aware


class GrantKind(StrEnum):
    EXTEND = "extend"
    TRAFFIC = "traffic"
    REVERSAL = "reversal"
    USAGE_RESET = "usage_reset"


class ResetStrategy(StrEnum):
    NONE = "none"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    YEARLY = "yearly"


class Status(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    TRAFFIC_EXCEEDED = "traffic_exceeded"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class GrantFact:
    id: str
    kind: GrantKind
    effective_at: datetime
    seconds: int = 0
    bytes: int = 0
    unlimited: bool = False
    reverses: str | None = None


@dataclass(frozen=True, slots=True)
class UsageFact:
    node_id: str
    seq: int
    bytes: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Entitlement:
    expiry: datetime | None
    allowance: int | None
    used: int
    period_start: datetime | None
    status: Status

    @property
    def remaining(self) -> int | None:
        if self.allowance is None:
            return None
        return max(0, self.allowance - self.used)

    def days_left(self, now: datetime) -> int:
        if self.expiry is None or now >= self.expiry:
            return 0
        return max(0, (self.expiry - now).days)


def period_start(strategy: ResetStrategy, now: datetime, tz: ZoneInfo) -> datetime | None:
    """The instant the current reset period began, in the operator's time zone."""
    if strategy is ResetStrategy.NONE:
        return None
    local = require_aware(now).astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if strategy is ResetStrategy.DAILY:
        start = midnight
    elif strategy is ResetStrategy.WEEKLY:
        start = midnight - timedelta(days=local.weekday())
    elif strategy is ResetStrategy.MONTHLY:
        start = midnight.replace(day=1)
    else:
        start = midnight.replace(month=1, day=1)
    # Re-localise: a DST change between the midnight and now must not shift the boundary.
    naive = start.replace(tzinfo=None)
    return naive.replace(tzinfo=tz).astimezone(now.tzinfo)


def effective_grants(grants: Iterable[GrantFact]) -> list[GrantFact]:
    """Deduplicated, non-reversed grants in their canonical fold order."""
    unique = {g.id: g for g in grants}
    reversed_ids = {g.reverses for g in unique.values() if g.kind is GrantKind.REVERSAL}
    live = [
        g for g in unique.values() if g.kind is not GrantKind.REVERSAL and g.id not in reversed_ids
    ]
    return sorted(live, key=lambda g: (g.effective_at, g.id))


def compute_expiry(grants: list[GrantFact]) -> datetime | None:
    expiry: datetime | None = None
    for grant in grants:
        if grant.kind is GrantKind.EXTEND and grant.seconds > 0:
            start = grant.effective_at if expiry is None else max(expiry, grant.effective_at)
            expiry = start + timedelta(seconds=grant.seconds)
    return expiry


def compute_allowance(
    grants: list[GrantFact], strategy: ResetStrategy, start: datetime | None
) -> int | None:
    quota_setters = [g for g in grants if g.kind is GrantKind.EXTEND and (g.bytes or g.unlimited)]
    if quota_setters and quota_setters[-1].unlimited:
        return None
    if strategy is ResetStrategy.NONE or start is None:
        return sum(g.bytes for g in grants if g.kind in (GrantKind.EXTEND, GrantKind.TRAFFIC))
    base = quota_setters[-1].bytes if quota_setters else 0
    top_ups = sum(
        g.bytes for g in grants if g.kind is GrantKind.TRAFFIC and g.effective_at >= start
    )
    return base + top_ups


def ceil_local_hour(moment: datetime, tz: ZoneInfo) -> datetime:
    """The first operator-local hour boundary at or after `moment` (in `moment`'s zone)."""
    local = require_aware(moment).astimezone(tz)
    hour = local.replace(minute=0, second=0, microsecond=0)
    if hour == local:
        return moment
    return (hour.astimezone(UTC) + timedelta(hours=1)).astimezone(moment.tzinfo)


# The grants a usage floor depends on: manual resets, and the reversals that cancel them.
FLOOR_KINDS = frozenset({GrantKind.USAGE_RESET, GrantKind.REVERSAL})


def usage_floor(grants: list[GrantFact], start: datetime | None, tz: ZoneInfo) -> datetime | None:
    """Usage ending before this instant does not count (period start or last manual reset).

    Usage is kept per operator-local hour, so a manual reset counts from the next whole
    hour: traffic in the hour it falls in is left out (the customer's favour, < 1 hour).
    Period starts are local midnights, already on the hour.
    """
    resets = [
        ceil_local_hour(g.effective_at, tz) for g in grants if g.kind is GrantKind.USAGE_RESET
    ]
    candidates = [t for t in [start, *resets] if t is not None]
    return max(candidates) if candidates else None


def sum_usage(usage: Iterable[UsageFact], floor: datetime | None) -> int:
    unique = {(u.node_id, u.seq): u for u in usage}
    return sum(u.bytes for u in unique.values() if floor is None or u.at >= floor)


def derive_status(
    *, enabled: bool, expiry: datetime | None, allowance: int | None, used: int, now: datetime
) -> Status:
    """The single place status is decided; every UI and the nodes ask this."""
    if not enabled:
        return Status.DISABLED
    if expiry is None or now >= expiry:
        return Status.EXPIRED
    if allowance is not None and used >= allowance:
        return Status.TRAFFIC_EXCEEDED
    return Status.ACTIVE


def entitlement_from(
    live: list[GrantFact],
    strategy: ResetStrategy,
    start: datetime | None,
    used: int,
    *,
    enabled: bool,
    now: datetime,
) -> Entitlement:
    """The entitlement from a user's live grants and the bytes used since the floor."""
    expiry = compute_expiry(live)
    allowance = compute_allowance(live, strategy, start)
    status = derive_status(enabled=enabled, expiry=expiry, allowance=allowance, used=used, now=now)
    return Entitlement(expiry, allowance, used, start, status)


def derive(
    grants: Iterable[GrantFact],
    usage: Iterable[UsageFact],
    *,
    enabled: bool,
    strategy: ResetStrategy,
    now: datetime,
    tz: ZoneInfo,
) -> Entitlement:
    now = require_aware(now, "now")
    live = effective_grants(grants)
    start = period_start(strategy, now, tz)
    used = sum_usage(usage, usage_floor(live, start, tz))
    return entitlement_from(live, strategy, start, used, enabled=enabled, now=now)
