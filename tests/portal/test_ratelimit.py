"""DB-backed rate limits and login lockout: atomic across threads, processes and app instances."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from portal.app import close_app, create_app
from tests.fixtures.portal import (
    PASSWORD,
    body,
    csrf_of,
    login,
    make_config,
    make_customer,
    with_limits,
)
from tests.fixtures.smtp import Mailbox
from vpanel_core import ratelimit
from vpanel_core.db import transaction
from vpanel_core.ratelimit import Limit, LockoutPolicy
from vpanel_core.runtime import Database

T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_hits_over_the_limit_raise_with_seconds_left_in_window(database: Database):
    limit = Limit(hits=3, seconds=60)
    with transaction(database.sessions) as session:
        counts = [ratelimit.hit(session, "t", "1.2.3.4", limit, T0) for _ in range(3)]
        with pytest.raises(ratelimit.RateLimited) as caught:
            ratelimit.hit(session, "t", "1.2.3.4", limit, T0 + timedelta(seconds=15))
    assert counts == [1, 2, 3]
    assert caught.value.retry_after == 45
    assert caught.value.code == "RATE_LIMITED"


def test_a_new_window_and_another_identity_start_from_zero(database: Database):
    limit = Limit(hits=1, seconds=60)
    with transaction(database.sessions) as session:
        ratelimit.hit(session, "t", "a", limit, T0)
        assert ratelimit.hit(session, "t", "b", limit, T0) == 1
        assert ratelimit.hit(session, "t", "a", limit, T0 + timedelta(seconds=60)) == 1


def test_concurrent_hits_from_many_threads_are_all_counted(database: Database):
    limit = Limit(hits=10_000, seconds=3600)
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(10):
            with transaction(database.sessions) as session:
                ratelimit.hit(session, "race", "x", limit, T0)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with transaction(database.sessions) as session:
        assert ratelimit.hit(session, "race", "x", limit, T0) == 81


def test_lockout_backs_off_exponentially_and_clears_on_success(database: Database):
    policy = LockoutPolicy(threshold=3, base_seconds=30, max_seconds=100)
    key = ratelimit.lockout_key("alice@example.com", "10.0.0.1")
    with transaction(database.sessions) as session:
        for _ in range(2):
            ratelimit.record_failure(session, key, policy, T0)
        ratelimit.check_lockout(session, key, T0)  # two failures: not locked
        ratelimit.record_failure(session, key, policy, T0)
        with pytest.raises(ratelimit.LoginLocked) as first:
            ratelimit.check_lockout(session, key, T0)
        ratelimit.record_failure(session, key, policy, T0)
        with pytest.raises(ratelimit.LoginLocked) as second:
            ratelimit.check_lockout(session, key, T0)
        for _ in range(5):
            ratelimit.record_failure(session, key, policy, T0)
        with pytest.raises(ratelimit.LoginLocked) as capped:
            ratelimit.check_lockout(session, key, T0)
        ratelimit.check_lockout(session, key, T0 + timedelta(seconds=101))
        ratelimit.clear_failures(session, key)
        ratelimit.record_failure(session, key, policy, T0)
        ratelimit.check_lockout(session, key, T0)
    assert (first.value.retry_after, second.value.retry_after, capped.value.retry_after) == (
        30,
        60,
        100,
    )


def test_brute_force_login_is_locked_out_per_account_and_address(client, portal_app, db):
    make_customer(db, "alice@example.com")
    with_limits(portal_app, lockout=LockoutPolicy(threshold=3, base_seconds=60, max_seconds=600))

    wrong = [login(client, "alice@example.com", "wrong-password").status_code for _ in range(3)]
    locked = login(client, "alice@example.com", PASSWORD)
    other_account = make_customer(db, "bob@example.com")
    unaffected = login(client, other_account.email, PASSWORD)

    assert wrong == [401, 401, 401]
    assert locked.status_code == 429
    assert 'data-code="LOGIN_LOCKED"' in locked.get_data(as_text=True)
    assert 0 < int(locked.headers["Retry-After"]) <= 60
    assert unaffected.status_code == 302


@pytest.fixture
def two_instances(pg_url: str, smtp_server: Mailbox) -> Iterator[tuple[Flask, Flask]]:
    """Two separately created portal apps (own engines and pools) on one PostgreSQL."""
    from tests.fixtures.databases import truncate_all

    apps = [create_app(make_config(pg_url, smtp_server)) for _ in range(2)]
    truncate_all(apps[0].extensions["vpanel"].database.engine)
    yield apps[0], apps[1]
    for app in apps:
        close_app(app)
        app.extensions["vpanel"].database.engine.dispose()


@pytest.mark.postgres
def test_two_instances_share_one_rate_limit(two_instances):
    first, second = two_instances
    for app in (first, second):
        with_limits(app, login=Limit(4, 600))
    clients = [first.test_client(), second.test_client()]

    codes = [login(clients[i % 2], "nobody@example.com", "x" * 10).status_code for i in range(6)]

    assert codes == [401, 401, 401, 401, 429, 429]


@pytest.mark.postgres
def test_a_session_from_one_instance_works_on_the_other_until_logout(two_instances):
    first, second = two_instances
    make_customer(first.extensions["vpanel"].database, "carol@example.com")
    browser_a = first.test_client()
    assert login(browser_a, "carol@example.com").status_code == 302
    cookie = browser_a.get_cookie("vp_session")
    assert cookie is not None
    browser_b = second.test_client()
    browser_b.set_cookie("vp_session", cookie.value)

    assert browser_b.get("/api/subscription/info").status_code == 200
    token = csrf_of(browser_a.get("/dashboard").get_data(as_text=True))
    assert browser_a.post("/logout", data={"csrf_token": token}).status_code == 302
    after = browser_b.get("/api/subscription/info")
    assert after.status_code == 401
    assert body(after)["code"] == "LOGIN_REQUIRED"
