"""Collect a node's journal over SSH: read a page, apply it, then ack, then compact.

The order is what makes it lossless: the node only drops records the desktop has
committed (ack after commit), and anything applied twice is a no-op (idempotent apply),
so a crash between any two steps just repeats work. Paging lets a desktop that was off
for a week catch up without one giant transfer.
"""

from __future__ import annotations

import shlex
import time
import uuid
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from vpanel_core import settings
from vpanel_core.db import transaction
from vpanel_core.models import UsageCursor
from vpanel_core.timeutil import utcnow
from vpanel_core.usage.ingest import apply_records
from vpanel_core.usage.schema import parse_page

PAGE_SIZE = 50_000
SKEW_WARNING_MS = 30_000


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

    @property
    def skew_suspicious(self) -> bool:
        return abs(self.clock_skew_ms) > SKEW_WARNING_MS


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


def collect_node(
    shell: RemoteShell,
    sessions: sessionmaker[Session],
    node_id: uuid.UUID,
    journal: NodeJournal,
    *,
    page_size: int = PAGE_SIZE,
) -> CollectReport:
    report = CollectReport()
    with transaction(sessions) as session:
        after = _cursor(session, node_id).applied_seq
    while True:
        sent = time.time()
        output = shell.run(journal.command("read", journal.journal_dir, after, page_size))
        received = time.time()
        page = parse_page(output.stdout)
        # The node stamped its clock somewhere between send and receive: compare to the middle.
        report.clock_skew_ms = page.node_time_ms - int((sent + received) * 500)
        with transaction(sessions) as session:
            tz = settings.operator_zone(session)
            result = apply_records(session, node_id, page.records, tz)
            cursor = _cursor(session, node_id)
            if page.records:
                after = cursor.applied_seq = max(cursor.applied_seq, page.records[-1].seq)
            cursor.collected_at = utcnow()
            cursor.clock_skew_ms = report.clock_skew_ms
            cursor.torn_lines += page.torn
            cursor.corrupt_lines += page.corrupt
            cursor.unknown_records += result.unknown
        report.pages += 1
        report.applied += result.applied
        report.duplicates += result.duplicates
        report.unknown += result.unknown
        report.unknown_users |= result.unknown_users
        report.torn += page.torn
        report.corrupt += page.corrupt
        report.applied_seq = after
        if page.records:
            shell.run(journal.command("ack", journal.journal_dir, after))
        if not page.more or not page.records:
            return report
