"""Commit order = numbering order for the change counter and the event log.

A reader that pages by `seq > cursor` must never see seq 7 committed before seq 6 is,
or it would skip 6 forever. SQLite has one writer at a time already; on PostgreSQL a
transaction-scoped advisory lock taken before numbering serializes the (short) tail of
writing transactions, so numbers become visible in order. The same kind of lock keeps
usage ingestion to one transaction at a time (`vpanel_core.usage.ingest`).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

LOCK_KEYS = {"changes": 7_301, "events": 7_302, "usage": 7_303}


def serialize(session: Session, log: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.connection().execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEYS[log]}
        )
