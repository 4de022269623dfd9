"""Crashes and lost connections at every step of a sync: resume → no loss, no duplicates."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.sync.conftest import Pair
from tests.sync.world import derived, public_state, register_and_pay, seed_desktop
from vpanel_core.db import transaction
from vpanel_core.models import Grant, Order, Payment, User
from vpanel_core.runtime import Database
from vpanel_core.services import users
from vpanel_core.sync import apply_desktop, apply_portal
from vpanel_core.sync.errors import PeerUnreachable


class Crash(Exception):
    """Stands for the process dying / the connection dropping at that point."""


def counts(db: Database) -> tuple[int, ...]:
    with db.sessions() as session:
        return tuple(
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (User, Grant, Order, Payment)
        )


def assert_converged(pair: Pair) -> None:
    assert counts(pair.desktop) == counts(pair.portal)
    assert public_state(pair.desktop) == public_state(pair.portal)
    assert derived(pair.desktop) == derived(pair.portal)


def world(pair: Pair) -> None:
    """Portal customers to pull (event pages) and desktop users to push (delta pages)."""
    seed_desktop(pair.desktop, n_users=10)
    pair.client.publish()  # plans must exist on the portal before customers buy them
    for i in range(3):
        register_and_pay(pair.portal, f"c{i}@example.org")
    with transaction(pair.desktop.sessions) as session:
        for i in range(6):
            users.create_user(session, users.NewUser(username=f"late{i}", days=3))


def fail_at(pair: Pair, step: int, phase: str) -> list[str]:
    seen: list[str] = []

    def fail(method: str, path: str, when: str) -> None:
        if when == phase:
            seen.append(path)
            if len(seen) == step + 1:
                raise Crash(f"{phase} {path}")

    pair.transport.fail = fail
    return seen


@pytest.mark.parametrize("phase", ["before", "after"])
@pytest.mark.parametrize("step", range(7))
def test_lost_request_or_lost_answer_at_any_step_then_resume(
    paired: Pair, step: int, phase: str
) -> None:
    """Steps cover event pages and delta pages; "after" = applied there, answer lost."""
    world(paired)
    fail_at(paired, step, phase)
    with pytest.raises(Crash):
        paired.client.sync_once()
    paired.transport.fail = lambda _m, _p, _w: None
    paired.client.sync_once()
    assert_converged(paired)


@pytest.mark.parametrize("phase", ["before", "after"])
@pytest.mark.parametrize("step", range(3))
def test_snapshot_interrupted_at_any_page_resumes_from_that_page(
    paired: Pair, step: int, phase: str
) -> None:
    seed_desktop(paired.desktop, n_users=20)
    fail_at(paired, step + 1, phase)  # step 0 is the events pull
    with pytest.raises(Crash):
        paired.client.sync_once()
    paired.transport.fail = lambda _m, _p, _w: None
    paired.transport.sent.clear()
    paired.client.sync_once()
    resent = paired.transport.sent.count("/api/sync/publish")
    assert resent == 3 - step  # pages already acknowledged are not sent again
    assert_converged(paired)


def test_portal_crash_mid_page_applies_nothing_of_that_page(
    paired: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_desktop(paired.desktop, n_users=10)
    original = apply_portal._usage

    def crash(*args: object) -> None:
        raise Crash("portal died after upserting users, before usage")

    monkeypatch.setattr(apply_portal, "_usage", crash)
    with pytest.raises(PeerUnreachable):  # the portal answers 500, rolled back
        paired.client.sync_once()
    assert counts(paired.portal)[0] == 0
    monkeypatch.setattr(apply_portal, "_usage", original)
    paired.client.sync_once()
    assert_converged(paired)


def test_desktop_crash_while_applying_events_keeps_the_cursor(
    paired: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    world(paired)
    original = apply_desktop._access
    monkeypatch.setattr(apply_desktop, "_access", lambda *_a: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        paired.client.sync_once()
    assert counts(paired.desktop)[0] == 16  # 10 + 6 desktop users, no customer adopted
    monkeypatch.setattr(apply_desktop, "_access", original)
    paired.client.sync_once()
    assert_converged(paired)
