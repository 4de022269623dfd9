"""Automatic collection (`vpanel_core.usage.auto`), without Qt, over real sshd nodes where
it matters: the fleet is collected every interval without a click, a click while a run is
under way joins it, a click restarts the timer, a dead node backs off while the others are
collected, 0 minutes turns the timer off, and stop cancels the run under way and leaves no
thread behind."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from cryptography.fernet import Fernet

from tests.accounting.helpers import Row, add_journal_node, journal_dir, total_bytes
from tests.fixtures.sshd import Fleet, wait_until
from vpanel_core import settings
from vpanel_core.db import transaction
from vpanel_core.errors import ValidationError
from vpanel_core.secretbox import SecretBox
from vpanel_core.timeutil import utcnow
from vpanel_core.usage.auto import SETTING, AutoCollector, CollectionStatus, NodeOutcome, Run, rests
from vpanel_core.usage.collect import State
from vpanel_node.journal import Journal, read_ack

BOX = SecretBox(Fernet(Fernet.generate_key()), "test")
FLUSH_BYTES = 1100
Make = Callable[..., AutoCollector]


def flush(user: uuid.UUID) -> list[Row]:
    """One accountant flush: 1,100 bytes of `user`, ending now."""
    t1 = int(utcnow().timestamp() * 1000)
    return [(str(user), 100, 1000, t1 - 500, t1)]


def set_minutes(fleet: Fleet, minutes: int) -> None:
    with transaction(fleet.db.sessions) as session:
        settings.put(session, SETTING, minutes)


@pytest.fixture
def auto(fleet: Fleet) -> Iterator[Make]:
    """Collectors on the fleet's database with the interval set; all stopped at teardown."""
    made: list[AutoCollector] = []

    def make(minutes: int, **options: Any) -> AutoCollector:
        set_minutes(fleet, minutes)
        made.append(AutoCollector(fleet.db.sessions, BOX, **options))
        return made[-1]

    yield make
    for collector in made:
        collector.stop(timeout=30)


def seen_as(outcome: NodeOutcome) -> str:
    return "backing off" if outcome.backing_off else outcome.state.value


def in_background(work: Callable[[], Run]) -> tuple[threading.Thread, list[Run]]:
    done: list[Run] = []
    thread = threading.Thread(target=lambda: done.append(work()))
    thread.start()
    return thread, done


def test_a_failing_node_rests_twice_as_many_runs_each_time_up_to_an_hour() -> None:
    assert [rests(failures, 300) for failures in range(1, 8)] == [0, 1, 3, 7, 11, 11, 11]
    assert [rests(failures, 3600) for failures in range(1, 4)] == [0, 0, 0]
    assert rests(5, 0) == 0


@pytest.mark.parametrize("value", [-1, 1441, 2.5, "5", True])
def test_the_interval_setting_is_whole_minutes_up_to_a_day(fleet: Fleet, value: object) -> None:
    with pytest.raises(ValidationError, match="usage collection interval"):
        set_minutes(fleet, value)  # type: ignore[arg-type]


@pytest.mark.e2e
def test_the_fleet_is_collected_every_interval_without_a_click(fleet: Fleet, auto: Make) -> None:
    user = fleet.add_user("ann")
    node = add_journal_node(fleet, "edge-1", [flush(user)])
    starts: list[float] = []

    def seen(status: CollectionStatus) -> None:
        if status.running and status.done == 0:
            starts.append(time.monotonic())

    collector = auto(1, minute=0.5, on_status=seen)  # "every minute" is every 0.5 s
    collector.start()
    wait_until(lambda: total_bytes(fleet.db) == FLUSH_BYTES, what="the first automatic run")
    Journal(journal_dir(fleet, node)).open().append(flush(user), {}, [])
    wait_until(lambda: total_bytes(fleet.db) == 2 * FLUSH_BYTES, what="the next automatic run")

    status = collector.status
    assert (status.ok, status.failed, status.interval) == (1, 0, 0.5)
    assert status.last_run_at is not None
    assert status.next_run_at == status.last_run_at + timedelta(seconds=0.5)
    assert len(starts) >= 2
    assert all(later - earlier >= 0.5 for earlier, later in pairwise(starts))


@pytest.mark.e2e
def test_a_click_while_the_timer_runs_joins_that_run_instead_of_starting_a_second(
    fleet: Fleet, auto: Make
) -> None:
    user = fleet.add_user("bob")
    node = add_journal_node(fleet, "edge-1", [flush(user)])
    release, joined = threading.Event(), threading.Event()
    told: list[tuple[str, State, str]] = []

    def seen(status: CollectionStatus) -> None:  # the run's node ends once the click joined
        if status.running and status.done == 1:
            release.wait(10)

    def progress(name: str, state: State, message: str) -> None:
        told.append((name, state, message))
        joined.set()

    collector = auto(60, on_status=seen)
    collector.start()
    wait_until(lambda: collector.status.running and collector.status.done == 1)
    click, result = in_background(lambda: collector.collect(on_progress=progress))
    assert joined.wait(10)  # told where the run stands as it joined
    release.set()
    click.join(30)

    [run] = result
    assert not run.manual  # the automatic run, not a second one beside it
    assert [(o.name, o.state, o.applied) for o in run.outcomes] == [("edge-1", State.OK, 1)]
    assert ("edge-1", State.OK, run.outcomes[0].message) in told
    assert collector.status.runs == 1
    assert total_bytes(fleet.db) == FLUSH_BYTES and read_ack(journal_dir(fleet, node)) == 1


def test_a_click_restarts_the_timer(fleet: Fleet, auto: Make) -> None:
    collector = auto(1, minute=1.0)  # every second
    collector.start()
    wait_until(lambda: collector.status.runs == 1, what="the first automatic run")
    first = collector.status.last_run_at
    time.sleep(0.4)  # mid-interval

    collector.collect()

    clicked = collector.status
    assert clicked.runs == 2 and clicked.last_run_at is not None and first is not None
    assert clicked.next_run_at == clicked.last_run_at + timedelta(seconds=1)
    wait_until(lambda: collector.status.runs == 3, what="the next automatic run")
    third = collector.status.last_run_at
    assert third is not None
    assert third - clicked.last_run_at >= timedelta(seconds=0.95)  # counted from the click
    assert third - first >= timedelta(seconds=1.3)


@pytest.mark.e2e
def test_a_dead_node_backs_off_while_the_others_are_collected_every_run(
    fleet: Fleet, auto: Make
) -> None:
    user = fleet.add_user("cat")
    live = add_journal_node(fleet, "live", [flush(user)])
    dead = add_journal_node(fleet, "dead", [flush(user)])
    fleet.sshd[dead].drop()
    live_journal = Journal(journal_dir(fleet, live)).open()
    collector = auto(5)

    def run(manual: bool) -> str:
        """One run with fresh usage on the live node: how the dead one ended."""
        live_journal.append(flush(user), {}, [])
        outcomes = {o.name: o for o in collector.collect(manual=manual).outcomes}
        assert outcomes["live"].state is State.OK
        return seen_as(outcomes["dead"])

    runs = [run(manual=False) for _ in range(5)]

    assert runs == ["failed", "failed", "backing off", "failed", "backing off"]
    status = collector.status
    assert (status.ok, status.failed, status.backing_off) == (1, 0, 1)
    assert total_bytes(fleet.db) == 6 * FLUSH_BYTES  # the live node, every run
    [resting] = [o for o in collector.collect(manual=False).outcomes if o.backing_off]
    assert "after 3 failures in a row" in resting.message
    assert "next try in about 10 min" in resting.message  # two more 5-minute runs

    assert run(manual=True) == "failed"  # a click tries every node
    fleet.sshd[dead].start()
    assert run(manual=False) == "backing off"
    assert run(manual=True) == "ok"  # back: collected, and forgiven
    assert run(manual=False) == "ok"
    assert total_bytes(fleet.db) == 11 * FLUSH_BYTES
    assert read_ack(journal_dir(fleet, dead)) == 1


def test_zero_minutes_turns_the_timer_off_until_the_operator_turns_it_on(
    fleet: Fleet, auto: Make
) -> None:
    collector = auto(0, minute=0.05)
    collector.start()
    time.sleep(0.3)  # six intervals of a one-minute setting

    status = collector.status
    assert (status.runs, status.interval, status.next_run_at) == (0, 0, None)

    set_minutes(fleet, 1)
    collector.reschedule()
    wait_until(lambda: collector.status.runs >= 1, what="a run once turned on")
    assert collector.status.interval == 0.05


@pytest.mark.e2e
def test_stop_cancels_the_run_under_way_and_leaves_no_thread_behind(
    fleet: Fleet, auto: Make
) -> None:
    user = fleet.add_user("dan")
    node = add_journal_node(fleet, "edge-1", [flush(user)])
    release = threading.Event()

    def seen(status: CollectionStatus) -> None:  # the run waits at its start
        if status.running and status.done == 0:
            release.wait(10)

    collector = auto(0, on_status=seen)
    collector.start()
    cancel = threading.Event()
    click, result = in_background(lambda: collector.collect(cancel=cancel))
    wait_until(lambda: collector.status.running)
    stopping = threading.Thread(target=collector.stop)
    stopping.start()
    assert cancel.wait(10)  # stop cancelled the run under way
    release.set()
    stopping.join(30)
    click.join(30)

    assert not stopping.is_alive()
    [outcome] = result[0].outcomes
    assert outcome.state is State.CANCELLED
    assert total_bytes(fleet.db) == 0 and read_ack(journal_dir(fleet, node)) == 0
    assert "vpanel-usage" not in [thread.name for thread in threading.enumerate()]
    refused = collector.collect()
    assert refused.finished.is_set() and refused.outcomes == []
