"""User use cases against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.fixtures.usage import record_usage
from vpanel_core.db import transaction
from vpanel_core.entitlement import Status
from vpanel_core.errors import Conflict, NotFound, ValidationError
from vpanel_core.models import Grant, Subscription, User
from vpanel_core.runtime import Database
from vpanel_core.services import ledger, plans, users
from vpanel_core.timeutil import utcnow


def make_user(db: Database, name: str = "alice", **kwargs) -> User:
    with transaction(db.sessions) as session:
        return users.create_user(session, users.NewUser(username=name, **kwargs))


def count(db: Database, model) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_new_user_gets_an_unguessable_token_and_short_code(database: Database) -> None:
    user = make_user(database, email="alice@example.com")
    with database.sessions() as session:
        sub = session.scalars(select(Subscription).where(Subscription.user_id == user.id)).one()
    assert len(sub.token) >= 32
    assert len(sub.short_code) == 8
    assert user.credential is not None


def test_duplicate_email_is_refused_and_nothing_is_written(database: Database) -> None:
    make_user(database, "alice", email="alice@example.com", days=30)
    with pytest.raises(Conflict, match="already registered"):
        make_user(database, "alice2", email="alice@EXAMPLE.com", days=30)
    assert count(database, User) == 1
    assert count(database, Grant) == 1
    assert count(database, Subscription) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"email": "not-an-email"}, "invalid e-mail"),
        ({"days": -1}, "days must be between"),
        ({"days": 10**7}, "days must be between"),
        ({"traffic_bytes": -5}, "traffic must be between"),
        ({"reset_strategy": "hourly"}, "reset strategy must be one of"),
    ],
)
def test_bad_input_gives_a_clear_error_and_writes_nothing(
    database: Database, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        make_user(database, "bob", **kwargs)
    assert count(database, User) == 0


def test_renew_extends_expiry_and_allowance(database: Database) -> None:
    user = make_user(database, days=30, traffic_bytes=10 * 2**30)
    with transaction(database.sessions) as session:
        user = users.find_user(session, "alice")
        before = ledger.entitlement(session, user)
        ledger.renew(session, user, days=10, traffic_bytes=2**30)
        after = ledger.entitlement(session, user)
    assert before.expiry is not None and after.expiry is not None
    assert after.expiry - before.expiry == timedelta(days=10)
    assert after.allowance == 11 * 2**30
    assert after.status is Status.ACTIVE


def test_usage_over_the_allowance_marks_traffic_exceeded(database: Database) -> None:
    user = make_user(database, days=30, traffic_bytes=1000)
    with transaction(database.sessions) as session:
        record_usage(session, user.id, 400, 600)
    with database.sessions() as session:
        user = users.find_user(session, "alice")
        ent = ledger.entitlement(session, user)
    assert ent.used == 1000
    assert ent.status is Status.TRAFFIC_EXCEEDED


def test_the_same_grant_id_credits_once(database: Database) -> None:
    user = make_user(database)
    with transaction(database.sessions) as session:
        assert ledger.renew(session, user, days=30, grant_id="payment:test:1")
        assert not ledger.renew(session, user, days=30, grant_id="payment:test:1")
    with database.sessions() as session:
        ent = ledger.entitlement(session, users.find_user(session, "alice"))
    assert ent.expiry is not None
    assert timedelta(days=29) < ent.expiry - utcnow() <= timedelta(days=30)


def test_deleting_a_user_deletes_their_subscription_and_grants(database: Database) -> None:
    make_user(database, days=30)
    with transaction(database.sessions) as session:
        users.delete_user(session, users.find_user(session, "alice"))
    assert count(database, Subscription) == 0
    assert count(database, Grant) == 0


def test_unknown_user_is_a_clear_not_found(database: Database) -> None:
    with database.sessions() as session, pytest.raises(NotFound, match="no user 'ghost'"):
        users.find_user(session, "ghost")


def test_naive_datetimes_are_refused(database: Database) -> None:
    user = make_user(database)
    with pytest.raises(ValidationError, match="time zone"), transaction(database.sessions) as s:
        ledger.add_grant(
            s, user.id, ledger.GrantKind.EXTEND, seconds=60, effective_at=datetime(2026, 1, 1)
        )
    assert count(database, Grant) == 0


def test_applying_a_plan_sets_reset_strategy_and_groups(database: Database) -> None:
    user = make_user(database)
    with transaction(database.sessions) as session:
        plan = plans.create_plan(
            session,
            plans.NewPlan(
                name="Pro",
                price_minor=999,
                currency="usd",
                duration_days=30,
                traffic_bytes=100 * 2**30,
                reset_strategy="monthly",
                node_groups=("hk",),
            ),
        )
        user = users.find_user(session, "alice")
        assert users.apply_plan(session, user, plan, grant_id="order:1", source="test")
        assert not users.apply_plan(session, user, plan, grant_id="order:1", source="test")
        ent = ledger.entitlement(session, user)
    assert user.reset_strategy == "monthly"
    assert user.node_groups == ["hk"]
    assert ent.allowance == 100 * 2**30


def test_duplicate_plan_name_and_bad_price_are_refused(database: Database) -> None:
    spec = plans.NewPlan(name="Basic", price_minor=500, currency="USD", duration_days=30)
    with transaction(database.sessions) as session:
        plans.create_plan(session, spec)
    with pytest.raises(Conflict), transaction(database.sessions) as session:
        plans.create_plan(session, spec)
    bad = plans.NewPlan(name="Neg", price_minor=-1, currency="USD", duration_days=30)
    with pytest.raises(ValidationError, match="price"), transaction(database.sessions) as session:
        plans.create_plan(session, bad)
