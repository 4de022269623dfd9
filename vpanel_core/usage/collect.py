"""Collect the fleet's usage journals in rounds: read a page from every node, apply all the
pages in one transaction, then ack each node, and go on while any node has more.

The order is what makes it lossless: a node only drops records the desktop has committed
(ack after commit), and anything applied twice is a no-op (idempotent apply), so a crash
between any two steps just repeats work. Paging lets a desktop that was off for a week
catch up without one giant transfer. One transaction per round, not per node and page,
is what `apply_round` is fast at; reads and acks run in parallel threads, and a node that
fails drops out of later rounds on its own, so it neither blocks nor loses the others.
"""

from __future__ import annotations

import shlex
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vpanel_core import settings
from vpanel_core.db import transaction
from vpanel_core.models import UsageCursor
from vpanel_core.nodes.errors import NodeError, RemoteCommandFailed
from vpanel_core.timeutil import utcnow
from vpanel_core.usage.ingest import IngestResult, apply_round
from vpanel_core.usage.schema import JournalPage, parse_page

PAGE_SIZE = 50_000
SKEW_WARNING_MS = 30_000
MAX_WORKERS = 16
T = TypeVar("T")
R = TypeVar("R")


class State(StrEnum):
    """Where a node is; FAILED is final where it happens, OK and CANCELLED are the
    caller's to give (it may have more to do with the node once collection is over)."""

    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    CANCELLED = "cancelled"


# (node name, state, what happened): called from worker threads.
Progress = Callable[[str, State, str], None]


def quiet(name: str, state: State, message: str) -> None:
    """The progress callback of callers that show none."""


class CommandOutput(Protocol):
    @property
    def stdout(self) -> str: ...  # read-only, so frozen results (`CommandResult`) fit


class RemoteShell(Protocol):
    """What collection needs from a node link (`vpanel_core.nodes.ssh.SshSession` fits)."""

    def run(self, command: str, *, check: bool = True, timeout: float = ...) -> CommandOutput: ...


@dataclass(frozen=True, slots=True)
class NodeJournal:
    """How to reach the journal on the node: interpreter, helper package, journal dir."""

    package_dir: str
    journal_dir: str
    python: str = "python3"

    def command(self, *args: object) -> str:
        words = " ".join(shlex.quote(str(a)) for a in args)
        return (
            f"PYTHONPATH={shlex.quote(self.package_dir)} {shlex.quote(self.python)} "
            f"-m vpanel_node.journal {words}"
        )


@dataclass(frozen=True, slots=True)
class JournalSource:
    """One node to collect from: an open link and where its journal lives."""

    node_id: uuid.UUID
    name: str
    shell: RemoteShell
    journal: NodeJournal


@dataclass(frozen=True, slots=True)
class Fetched:
    """One page as read, with the node's clock skew measured around the read."""

    page: JournalPage
    clock_skew_ms: int


@dataclass(slots=True)
class CollectReport:
    pages: int = 0
    applied: int = 0
    duplicates: int = 0
    unknown: int = 0
    unknown_users: set[str] = field(default_factory=set)
    torn: int = 0
    corrupt: int = 0
    applied_seq: int = 0
    clock_skew_ms: int = 0
    caught_up: bool = False  # the node's last page said nothing more waits
    error: NodeError | None = None  # what stopped this node (what it applied stays applied)

    @property
    def skew_suspicious(self) -> bool:
        return abs(self.clock_skew_ms) > SKEW_WARNING_MS

    @property
    def summary(self) -> str:
        return f"{self.applied} records applied (journal seq {self.applied_seq})"

    def add(self, fetched: Fetched, result: IngestResult, applied_seq: int) -> None:
        page = fetched.page
        self.pages += 1
        self.applied += result.applied
        self.duplicates += result.duplicates
        self.unknown += result.unknown
        self.unknown_users |= result.unknown_users
        self.torn += page.torn
        self.corrupt += page.corrupt
        self.applied_seq = applied_seq
        self.clock_skew_ms = fetched.clock_skew_ms


def on_each(
    work: Callable[[T], R], items: Sequence[T], max_workers: int = MAX_WORKERS
) -> list[R | NodeError]:
    """`work(item)` for every item in parallel threads, in item order; a `NodeError` is
    that item's result, not everyone's failure (one dead node must not stop the fleet)."""

    def guarded(item: T) -> R | NodeError:
        try:
            return work(item)
        except NodeError as exc:
            return exc

    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(max_workers, len(items))) as pool:
        return list(pool.map(guarded, items))


def _fetch_page(source: JournalSource, after: int, page_size: int) -> Fetched:
    journal = source.journal
    sent = time.time()
    output = source.shell.run(journal.command("read", journal.journal_dir, after, page_size))
    received = time.time()
    try:
        page = parse_page(output.stdout)
    except (ValueError, KeyError, TypeError) as exc:
        raise RemoteCommandFailed(f"{source.name} answered no journal page: {exc}") from exc
    # The node stamped its clock somewhere between send and receive: compare to the middle.
    return Fetched(page, page.node_time_ms - int((sent + received) * 500))


def _cursor(session: Session, node_id: uuid.UUID) -> UsageCursor:
    cursor = session.get(UsageCursor, node_id)
    if cursor is None:
        cursor = UsageCursor(
            node_id=node_id,
            applied_seq=0,
            clock_skew_ms=0,
            torn_lines=0,
            corrupt_lines=0,
            unknown_records=0,
        )
        session.add(cursor)
    return cursor


def _book(session: Session, node_id: uuid.UUID, fetched: Fetched, result: IngestResult) -> int:
    """Move the node's cursor past its page and keep what the page noticed; the new
    cursor (what the node may be acked up to once this commits)."""
    page = fetched.page
    cursor = _cursor(session, node_id)
    if page.records:
        cursor.applied_seq = max(cursor.applied_seq, page.records[-1].seq)
    cursor.collected_at = utcnow()
    cursor.clock_skew_ms = fetched.clock_skew_ms
    cursor.torn_lines += page.torn
    cursor.corrupt_lines += page.corrupt
    cursor.unknown_records += result.unknown
    return cursor.applied_seq


def _apply_pages(
    sessions: sessionmaker[Session], fetched: Mapping[uuid.UUID, Fetched]
) -> dict[uuid.UUID, tuple[IngestResult, int]]:
    """One round in one transaction: every node's records and its cursor bookkeeping."""
    with transaction(sessions) as session:
        tz = settings.operator_zone(session)
        results = apply_round(session, {n: f.page.records for n, f in fetched.items()}, tz)
        return {n: (results[n], _book(session, n, f, results[n])) for n, f in fetched.items()}


def _applied_seqs(
    sessions: sessionmaker[Session], node_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    with transaction(sessions) as session:
        query = select(UsageCursor.node_id, UsageCursor.applied_seq).where(
            UsageCursor.node_id.in_(node_ids)
        )
        found = {node_id: seq for node_id, seq in session.execute(query)}
    return {node_id: found.get(node_id, 0) for node_id in node_ids}


def collect_fleet(
    sources: Sequence[JournalSource],
    sessions: sessionmaker[Session],
    *,
    page_size: int = PAGE_SIZE,
    on_progress: Progress = quiet,
    cancel: threading.Event | None = None,
    max_workers: int = MAX_WORKERS,
) -> dict[uuid.UUID, CollectReport]:
    """Rounds until every node is caught up or failed (or `cancel` is set between rounds).

    A node is acked up to its committed cursor whenever the node holds less (so an ack
    lost after a commit is repaired by the next collection).
    """
    reports = {s.node_id: CollectReport() for s in sources}
    after = _applied_seqs(sessions, [s.node_id for s in sources])

    def fail(source: JournalSource, error: NodeError) -> None:
        reports[source.node_id].error = error
        on_progress(source.name, State.FAILED, error.message)

    def ack(source: JournalSource) -> object:
        journal = source.journal
        return source.shell.run(journal.command("ack", journal.journal_dir, after[source.node_id]))

    pending = list(sources)
    while pending and not (cancel is not None and cancel.is_set()):
        read: dict[uuid.UUID, Fetched] = {}
        pages = on_each(lambda s: _fetch_page(s, after[s.node_id], page_size), pending, max_workers)
        for source, got in zip(pending, pages, strict=True):
            if isinstance(got, NodeError):
                fail(source, got)
            else:
                read[source.node_id] = got
        pending = [s for s in pending if s.node_id in read]
        if not pending:
            break
        for node_id, (result, seq) in _apply_pages(sessions, read).items():
            reports[node_id].add(read[node_id], result, seq)
            after[node_id] = seq
        behind = [s for s in pending if after[s.node_id] > read[s.node_id].page.acked]
        for source, acked in zip(behind, on_each(ack, behind, max_workers), strict=True):
            if isinstance(acked, NodeError):
                fail(source, acked)
        going: list[JournalSource] = []
        for source in pending:
            report, page = reports[source.node_id], read[source.node_id].page
            if report.error is not None:
                continue
            report.caught_up = not (page.more and page.records)
            if not report.caught_up:
                going.append(source)
            more = "" if report.caught_up else ", more to read"
            on_progress(source.name, State.RUNNING, report.summary + more)
        pending = going
    return reports


def collect_node(
    shell: RemoteShell,
    sessions: sessionmaker[Session],
    node_id: uuid.UUID,
    journal: NodeJournal,
    *,
    page_size: int = PAGE_SIZE,
) -> CollectReport:
    """One node on its own (a fleet of one); raises the `NodeError` that stopped it."""
    source = JournalSource(node_id, str(node_id), shell, journal)
    report = collect_fleet([source], sessions, page_size=page_size)[node_id]
    if report.error is not None:
        raise report.error
    return report
