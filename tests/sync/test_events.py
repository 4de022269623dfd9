"""Portal → desktop: a week of portal activity while the desktop was off, then one sync."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from tests.sync.conftest import Pair
from tests.sync.world import (
    NOW,
    access,
    derived,
    public_state,
    regenerate_token,
    register_and_pay,
    seed_desktop,
)
from vpanel_core.db import transaction
from vpanel_core.models import Order, Payment, Subscription, User
from vpanel_core.services import accounts, users
from vpanel_core.sync.events import record_event
from vpanel_core.sync.models import SyncEvent


def test_a_week_offline_then_one_sync_gives_identical_derived_state(paired: Pair) -> None:
    seed_desktop(paired.desktop, n_users=12)
    paired.client.sync_once()
    paired.transport.offline = True
    customers = [register_and_pay(paired.portal, f"c{i}@example.org") for i in range(12)]
    with paired.portal.sessions() as session:
        existing = session.scalar(select(User.id).where(User.username == "user002"))
    assert existing is not None
    for day in range(7):
        regenerate_token(paired.portal, customers[day])
        access(paired.portal, customers[day], NOW - timedelta(days=7 - day), f"10.0.0.{day}")
        access(paired.portal, existing, NOW - timedelta(days=7 - day), "10.9.9.9")
    with transaction(paired.portal.sessions) as session:
        accounts.set_alias(session, users.find_user(session, "user002"), "renamed by customer")
    paired.transport.offline = False

    report = paired.client.sync_once()

    assert report.users_adopted == 12
    assert derived(paired.desktop) == derived(paired.portal)
    assert public_state(paired.desktop) == public_state(paired.portal)
    with paired.desktop.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 12
        assert session.scalar(select(func.count()).select_from(Payment)) == 12
        stats = session.scalar(select(Subscription).where(Subscription.user_id == existing))
        assert stats is not None and stats.access_count == 7
        assert stats.last_access_ip == "10.9.9.9"
    assert paired.client.sync_once().events_pulled == 0


def test_a_paid_customer_is_adopted_with_the_same_ids_and_secrets(paired: Pair) -> None:
    seed_desktop(paired.desktop, n_users=1)
    paired.client.sync_once()
    customer = register_and_pay(paired.portal, "night@example.org", plan_name="Premium")
    paired.client.sync_once()
    assert public_state(paired.desktop)[str(customer)] == public_state(paired.portal)[str(customer)]
    with paired.desktop.sessions() as session:
        user = session.get(User, customer)
        assert user is not None and user.node_groups == ["premium"]


def test_portal_writes_log_events_in_their_own_transaction(paired: Pair) -> None:
    try:
        with transaction(paired.portal.sessions) as session:
            accounts.register(session, "rolled@example.org", "correct horse battery")
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    with transaction(paired.portal.sessions) as session:
        record_event(session, "note", {"text": "hello"})
    with paired.portal.sessions() as session:
        kinds = list(session.scalars(select(SyncEvent.kind).order_by(SyncEvent.seq)))
    assert kinds == ["note"]
