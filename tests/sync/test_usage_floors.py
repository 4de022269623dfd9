"""The portal is sent each user's usage from the usage floor on, not every row the desktop
keeps, and still derives what the desktop derives when a floor moves back: a new reset
strategy, an undone reset, a plan bought on the portal, a new time zone."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.fixtures.usage import record_usage
from tests.sync.conftest import Pair
from tests.sync.world import buy, derived
from vpanel_core import settings
from vpanel_core.db import transaction
from vpanel_core.entitlement import Entitlement, GrantKind, ResetStrategy, period_start
from vpanel_core.models import User
from vpanel_core.runtime import Database
from vpanel_core.services import ledger, plans, users
from vpanel_core.timeutil import local_midnight, utcnow

# The second zone's date is always one or two days behind the first's (25 hours apart):
# a daily period moves back whatever the time of the test.
WHOLE_HOURS = ("Pacific/Kiritimati", "Pacific/Pago_Pago")
# UTC+05:30 keys hours at half past a UTC hour.
HALF_HOURS = ("Asia/Kolkata", "Pacific/Pago_Pago")
STRATEGIES = {
    "casual": "none",  # → yearly
    "monthly": "monthly",  # → yearly, then a manual reset
    "resets": "none",  # two mid-day resets, the later one undone
    "daily": "daily",  # a new time zone moves its day back
    "buyer": "none",  # buys a yearly plan on the portal
}


def set_zone(name: str, *dbs: Database) -> None:
    for db in dbs:
        with transaction(db.sessions) as session:
            settings.put(session, "timezone", name)


def use(db: Database, user_id: uuid.UUID, at: datetime) -> None:
    with transaction(db.sessions) as session:
        record_usage(session, user_id, 1000, 9000 + int(at.timestamp()) % 997, at)


def agreed(pair: Pair) -> dict[str, Entitlement]:
    """Both sides' entitlements at one instant, by username; they must be equal."""
    now = utcnow()
    with pair.desktop.sessions() as session:
        names = {user_id: name for user_id, name in session.execute(select(User.id, User.username))}
    desktop, portal = derived(pair.desktop, now), derived(pair.portal, now)
    assert portal == desktop
    return {names[user_id]: ent for user_id, ent in desktop.items()}


@pytest.mark.parametrize("zones", [WHOLE_HOURS, HALF_HOURS], ids=["whole-hours", "half-hours"])
def test_the_portal_derives_the_desktops_use_whatever_moves_a_floor_back(
    paired: Pair, zones: tuple[str, str]
) -> None:
    old_zone, new_zone = zones
    set_zone(old_zone, paired.desktop, paired.portal)
    tz, now = ZoneInfo(old_zone), utcnow()
    year_start = period_start(ResetStrategy.YEARLY, now, tz)
    month_start = period_start(ResetStrategy.MONTHLY, now, tz)
    assert year_start is not None and month_start is not None
    day = now.astimezone(tz).date()
    first_reset = local_midnight(day - timedelta(days=20), tz) + timedelta(hours=10, minutes=30)
    second_reset = local_midnight(day - timedelta(days=3), tz) + timedelta(hours=10, minutes=30)
    with transaction(paired.desktop.sessions) as session:
        plans.create_plan(
            session,
            plans.NewPlan(
                "Yearly", 9900, "USD", 365, traffic_bytes=1 << 40, reset_strategy="yearly"
            ),
        )
        ids = {
            name: users.create_user(
                session,
                users.NewUser(
                    username=name,
                    email=f"{name}@example.com",
                    days=30,
                    traffic_bytes=1 << 40,
                    reset_strategy=strategy,
                ),
            ).id
            for name, strategy in STRATEGIES.items()
        }
        for name, at in (("resets", first_reset), ("resets", second_reset)):
            ledger.add_grant(
                session, ids[name], GrantKind.USAGE_RESET, grant_id=f"reset:{at}", effective_at=at
            )
    for name in ids:
        use(paired.desktop, ids[name], now - timedelta(minutes=1))
    use(paired.desktop, ids["casual"], now - timedelta(days=400))
    use(paired.desktop, ids["casual"], year_start + (now - year_start) / 2)
    use(paired.desktop, ids["buyer"], year_start + (now - year_start) / 2)
    use(paired.desktop, ids["monthly"], year_start + (month_start - year_start) / 2)
    for reset in (first_reset, second_reset):  # the rest of the reset's day, the next day
        use(paired.desktop, ids["resets"], reset + timedelta(hours=2))
        use(paired.desktop, ids["resets"], reset + timedelta(days=1))
    use(paired.desktop, ids["daily"], now - timedelta(days=1))

    assert paired.client.sync_once().snapshot_pages > 0
    before = agreed(paired)

    with transaction(paired.desktop.sessions) as session:
        for name in ("casual", "monthly"):
            users.update_profile(session, users.find_user(session, name), reset_strategy="yearly")
    paired.client.sync_once()
    after = agreed(paired)
    assert after["casual"].used > 0  # days the portal was not sent (totals were enough)
    assert (after["monthly"].used > before["monthly"].used) == (month_start > year_start)

    with transaction(paired.desktop.sessions) as session:
        ledger.reset_usage(session, users.find_user(session, "monthly"))
    paired.client.sync_once()
    agreed(paired)

    before = after
    with transaction(paired.desktop.sessions) as session:
        ledger.reverse(session, users.find_user(session, "resets"), f"reset:{second_reset}")
    paired.client.sync_once()
    after = agreed(paired)
    assert after["resets"].used > before["resets"].used

    buy(paired.portal, ids["buyer"], "Yearly", "ref-buyer")
    paired.client.sync_once()  # adopts the purchase, publishes the buyer's usage since 1 Jan
    after = agreed(paired)
    assert after["buyer"].used > 0

    before = after
    set_zone(new_zone, paired.desktop, paired.portal)
    assert paired.client.sync_once().snapshot_pages > 0
    after = agreed(paired)
    moved_back = now.astimezone(ZoneInfo(new_zone)).date() < day
    assert (after["daily"].used > before["daily"].used) == moved_back

    for name in ids:
        use(paired.desktop, ids[name], utcnow())
    assert paired.client.sync_once().snapshot_pages == 0
    agreed(paired)


def test_only_a_new_time_zone_makes_the_next_publication_a_snapshot(paired: Pair) -> None:
    with transaction(paired.desktop.sessions) as session:
        users.create_user(session, users.NewUser(username="ann", days=30))
    paired.client.sync_once()
    pages = []
    for key, value in (
        ("timezone", "UTC"),  # the default, now stored
        ("language", "de"),
        ("timezone", "Asia/Tokyo"),
        ("timezone", "Asia/Tokyo"),
    ):
        with transaction(paired.desktop.sessions) as session:
            settings.put(session, key, value)
        pages.append(paired.client.sync_once().snapshot_pages)
    assert pages == [0, 0, 1, 0]
