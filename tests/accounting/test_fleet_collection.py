"""Collecting the whole fleet in rounds over real sshd nodes, on SQLite and PostgreSQL: one
transaction per round counts what node-by-node collection counts, a dead or failing node
is reported while the others are applied and acked, an ack lost after the commit counts
nothing twice, and a node far behind catches up page by page."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import delete, select, update

from tests.accounting.helpers import Row, add_journal_node, journal_dir, total_bytes
from tests.fixtures.sshd import Fleet, SshdNode
from vpanel_core.db import transaction
from vpanel_core.models import (
    UsageApplied,
    UsageCursor,
    UsageDaily,
    UsageHourly,
    UsageNodeDaily,
    UsageTotal,
    UsageUnknown,
)
from vpanel_core.nodes.errors import NodeUnreachable, RemoteCommandFailed
from vpanel_core.nodes.ssh import SshSession
from vpanel_core.runtime import Database
from vpanel_core.secretbox import SecretBox
from vpanel_core.timeutil import utcnow
from vpanel_core.usage import collect, ingest, refresh
from vpanel_core.usage.collect import State, collect_node
from vpanel_node.journal import read_ack

pytestmark = pytest.mark.e2e

BOX = SecretBox(Fernet(Fernet.generate_key()), "test")


@pytest.fixture
def journal_fleet(
    database: Database, sshd_factory: Callable[[], SshdNode], ssh_client_key: Path
) -> Fleet:
    """Nodes on `database` (each backend) that were never bootstrapped: collection only
    needs sshd, the helper package and a journal."""
    return Fleet(database, sshd_factory, ssh_client_key)


@pytest.fixture
def rounds(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[uuid.UUID]]]:
    """The nodes of every `apply_round` call collection makes (one call per transaction)."""
    calls: list[list[uuid.UUID]] = []
    real = ingest.apply_round

    def spy(session: Any, pages: Mapping[uuid.UUID, Any], tz: Any) -> Any:
        calls.append(sorted(pages, key=str))
        return real(session, pages, tz)

    monkeypatch.setattr(collect, "apply_round", spy)
    yield calls


def flushes_for(users: Sequence[uuid.UUID], node: int, count: int) -> list[list[Row]]:
    """`count` flushes of every user, spread over three recent days, distinct per node."""
    start = int((utcnow() - timedelta(days=3)).timestamp() * 1000)
    out = []
    for flush in range(count):
        t1 = start + flush * 7 * 3_600_000 + node  # node-distinct ends: no last-node ties
        out.append(
            [
                (str(u), 10 * (node + 1) + i, 1000 * (node + 1) + flush, t1 - 500, t1)
                for i, u in enumerate(users)
            ]
        )
    return out


def links(fleet: Fleet) -> list[refresh.NodeLink]:
    with fleet.db.sessions() as session:
        return refresh.node_links(session, BOX)


def run(fleet: Fleet, **options: Any) -> dict[str, refresh.NodeCollected]:
    done = refresh.collect_and_refresh(fleet.db.sessions, links(fleet), **options)
    return {d.link.name: d for d in done}


def journaled_bytes(flushes: Sequence[Sequence[Row]]) -> int:
    return sum(up + down for flush in flushes for _, up, down, _, _ in flush)


def usage_state(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup, unknown record and cursor count, comparable across two collections."""
    with db.sessions() as s:
        return {
            "hourly": sorted(
                (r.hour, r.user_id, r.uplink, r.downlink) for r in s.scalars(select(UsageHourly))
            ),
            "daily": sorted(
                (r.day, r.user_id, r.uplink, r.downlink) for r in s.scalars(select(UsageDaily))
            ),
            "node_daily": sorted(
                (r.day, r.node_id, r.uplink, r.downlink) for r in s.scalars(select(UsageNodeDaily))
            ),
            "totals": sorted(
                (r.user_id, r.uplink, r.downlink, r.last_at, r.last_node_id)
                for r in s.scalars(select(UsageTotal))
            ),
            "unknown": sorted(
                (r.node_id, r.seq, r.user_name, r.uplink, r.downlink)
                for r in s.scalars(select(UsageUnknown))
            ),
            "cursors": sorted(
                (c.node_id, c.applied_seq, c.unknown_records, c.torn_lines, c.corrupt_lines)
                for c in s.scalars(select(UsageCursor))
            ),
        }


def test_one_round_of_several_nodes_counts_what_node_by_node_collection_counts(
    journal_fleet: Fleet, rounds: list[list[uuid.UUID]]
) -> None:
    fleet = journal_fleet
    users = [fleet.add_user(f"user{i}") for i in range(4)]
    journals = {f"n{i}": flushes_for(users[: 4 - i], i, count=3 + i) for i in range(3)}
    *_, t0, t1 = journals["n0"][0][0]
    journals["n0"].append([("stranger", 7, 70, t0, t1)])  # a name no user has
    nodes = {name: add_journal_node(fleet, name, flushes) for name, flushes in journals.items()}

    for link in links(fleet):  # node after node, one transaction per node and page
        with SshSession(link.target) as ssh:
            collect_node(ssh, fleet.db.sessions, link.node_id, link.journal)
    one_by_one = usage_state(fleet.db)
    with transaction(fleet.db.sessions) as session:  # forget it all, nodes keep their journals
        for table in (UsageHourly, UsageDaily, UsageNodeDaily, UsageTotal, UsageUnknown):
            session.execute(delete(table))
        session.execute(delete(UsageApplied))
        session.execute(delete(UsageCursor))
    rounds.clear()

    done = run(fleet)

    assert rounds == [sorted(nodes.values(), key=str)]  # all nodes, one transaction
    assert usage_state(fleet.db) == one_by_one
    assert total_bytes(fleet.db) == sum(map(journaled_bytes, journals.values())) - 77
    for name, node_id in nodes.items():
        last_seq = sum(map(len, journals[name]))
        result = done[name]
        assert result.refreshed and result.error is None and result.state is State.OK
        assert (result.report.pages, result.report.applied_seq) == (1, last_seq)
        assert read_ack(journal_dir(fleet, node_id)) == last_seq
        pushed = Path(fleet.sshd[node_id].remote_dir) / "entitlements.json"
        assert json.loads(pushed.read_text())["as_of_seq"] == last_seq
    assert done["n0"].report.unknown_users == {"stranger"}


def test_an_unreachable_node_is_reported_while_the_others_are_applied_and_acked(
    journal_fleet: Fleet,
) -> None:
    fleet = journal_fleet
    users = [fleet.add_user(f"user{i}") for i in range(3)]
    journals = {f"n{i}": flushes_for(users, i, count=2) for i in range(3)}
    nodes = {name: add_journal_node(fleet, name, flushes) for name, flushes in journals.items()}
    fleet.sshd[nodes["n1"]].drop()

    done = run(fleet)

    assert isinstance(done["n1"].error, NodeUnreachable) and not done["n1"].refreshed
    assert done["n1"].state is State.FAILED and done["n1"].report.pages == 0
    for name in ("n0", "n2"):
        assert done[name].refreshed and done[name].report.applied == 6
        assert read_ack(journal_dir(fleet, nodes[name])) == 6
    assert total_bytes(fleet.db) == journaled_bytes(journals["n0"] + journals["n2"])
    assert read_ack(journal_dir(fleet, nodes["n1"])) == 0

    fleet.sshd[nodes["n1"]].start()  # back: it catches up, the others have nothing new
    again = run(fleet)
    assert [again[name].report.applied for name in ("n0", "n1", "n2")] == [0, 6, 0]
    assert total_bytes(fleet.db) == sum(map(journaled_bytes, journals.values()))


def test_a_node_dropping_mid_catch_up_keeps_what_it_sent_and_stops_no_one(
    journal_fleet: Fleet, rounds: list[list[uuid.UUID]]
) -> None:
    fleet = journal_fleet
    users = [fleet.add_user(f"user{i}") for i in range(2)]
    journals = {f"n{i}": flushes_for(users, i, count=6) for i in range(2)}  # 12 records each
    nodes = {name: add_journal_node(fleet, name, flushes) for name, flushes in journals.items()}
    seen: list[tuple[str, State, str]] = []

    def progress(name: str, state: State, message: str) -> None:
        seen.append((name, state, message))
        if name == "n1" and "more to read" in message:  # between rounds 1 and 2
            fleet.sshd[nodes["n1"]].drop()

    done = run(fleet, page_size=5, on_progress=progress)

    assert isinstance(done["n1"].error, NodeUnreachable)
    assert (done["n1"].report.pages, done["n1"].report.applied) == (1, 5)
    assert read_ack(journal_dir(fleet, nodes["n1"])) == 5  # its first page: applied and acked
    assert done["n0"].refreshed and done["n0"].report.applied == 12
    assert [len(r) for r in rounds] == [2, 1, 1]
    assert ("n1", State.FAILED, done["n1"].error.message) in seen
    assert ("n0", State.OK, done["n0"].message) in seen

    fleet.sshd[nodes["n1"]].start()
    assert run(fleet)["n1"].report.applied == 7
    assert total_bytes(fleet.db) == sum(map(journaled_bytes, journals.values()))


def test_an_ack_lost_after_the_commit_counts_nothing_twice_and_is_repaired(
    journal_fleet: Fleet,
) -> None:
    fleet = journal_fleet
    users = [fleet.add_user(f"user{i}") for i in range(3)]
    journals = {f"n{i}": flushes_for(users, i, count=2) for i in range(2)}
    nodes = {name: add_journal_node(fleet, name, flushes) for name, flushes in journals.items()}
    everything = sum(map(journaled_bytes, journals.values()))
    # The ack's temp file cannot be created: the node fails right after the commit.
    blocker = journal_dir(fleet, nodes["n1"]) / ".usage.ack.tmp"
    blocker.mkdir()

    done = run(fleet)

    assert isinstance(done["n1"].error, RemoteCommandFailed) and not done["n1"].refreshed
    assert done["n1"].report.applied == 6  # committed before the ack failed
    assert read_ack(journal_dir(fleet, nodes["n1"])) == 0
    assert done["n0"].refreshed and read_ack(journal_dir(fleet, nodes["n0"])) == 6
    assert total_bytes(fleet.db) == everything

    blocker.rmdir()
    again = run(fleet)
    assert again["n1"].refreshed and again["n1"].report.applied == 0
    assert read_ack(journal_dir(fleet, nodes["n1"])) == 6  # the next collection acks it
    assert total_bytes(fleet.db) == everything

    # Even re-reading every journal from the start (cursors lost) counts nothing twice.
    with transaction(fleet.db.sessions) as session:
        session.execute(update(UsageCursor).values(applied_seq=0))
    replay = run(fleet)
    assert [(d.report.applied, d.report.duplicates) for d in replay.values()] == [(0, 6), (0, 6)]
    assert total_bytes(fleet.db) == everything


def test_a_node_a_week_behind_is_caught_up_page_by_page_alongside_the_others(
    journal_fleet: Fleet, rounds: list[list[uuid.UUID]]
) -> None:
    fleet = journal_fleet
    users = [fleet.add_user(f"user{i}") for i in range(3)]
    journals = {
        "behind": flushes_for(users, 0, count=8),  # 24 records: 5 pages of 5
        "recent": flushes_for(users[:1], 1, count=3),  # 3 records: 1 page
        "idle": [],
    }
    nodes = {name: add_journal_node(fleet, name, flushes) for name, flushes in journals.items()}

    done = run(fleet, page_size=5)

    assert [d.report.pages for d in (done["behind"], done["recent"], done["idle"])] == [5, 1, 1]
    assert all(d.refreshed for d in done.values())
    assert done["behind"].report.applied_seq == 24
    assert read_ack(journal_dir(fleet, nodes["behind"])) == 24
    assert read_ack(journal_dir(fleet, nodes["recent"])) == 3
    assert [len(r) for r in rounds] == [3, 1, 1, 1, 1]  # the others only join the first
    assert total_bytes(fleet.db) == sum(map(journaled_bytes, journals.values()))


def test_cancel_stops_between_rounds_and_the_rest_waits_for_the_next_collection(
    journal_fleet: Fleet,
) -> None:
    fleet = journal_fleet
    users = [fleet.add_user(f"user{i}") for i in range(3)]
    journals = {"behind": flushes_for(users, 0, count=4), "recent": flushes_for(users, 1, count=1)}
    nodes = {name: add_journal_node(fleet, name, flushes) for name, flushes in journals.items()}
    cancel = threading.Event()

    def progress(name: str, state: State, message: str) -> None:
        if "more to read" in message:
            cancel.set()

    done = run(fleet, page_size=5, on_progress=progress, cancel=cancel)

    assert done["behind"].state is State.CANCELLED and not done["behind"].refreshed
    assert done["behind"].message == "cancelled after 5 records applied (journal seq 5)"
    assert read_ack(journal_dir(fleet, nodes["behind"])) == 5  # what it applied is acked
    assert done["recent"].refreshed and done["recent"].report.applied == 3

    assert run(fleet, page_size=5)["behind"].report.applied == 7
    assert total_bytes(fleet.db) == sum(map(journaled_bytes, journals.values()))
