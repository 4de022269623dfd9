"""The desktop's change counter: which published entities changed since a version.

Entities: ``user`` (the user row, its subscription and grants travel together),
``plan``, ``node`` (with its inbounds), ``usage`` (a user's day, ``user:day``, marked by
ingestion) and ``resync`` (publish a full snapshot: rows could not be told, or the
operator's time zone changed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from vpanel_core import settings
from vpanel_core.sync import capture, ordering
from vpanel_core.sync.capture import Touch
from vpanel_core.sync.models import SyncChange

TABLES = frozenset({"users", "subscriptions", "grants", "plans", "nodes", "inbounds", "settings"})
ZONE = "timezone"  # the setting
_KEY_COLUMN = {
    "users": ("user", "id"),
    "subscriptions": ("user", "user_id"),
    "grants": ("user", "user_id"),
    "plans": ("plan", "id"),
    "nodes": ("node", "id"),
    "inbounds": ("node", "node_id"),
}


@dataclass(frozen=True, slots=True)
class Change:
    version: int
    entity: str
    entity_id: str


def key(touch: Touch) -> tuple[str, str] | None:
    """The change `touch` makes, None for a row the portal does not depend on."""
    if touch.op == capture.RESYNC:
        return ("resync", touch.table)
    if touch.table == "settings":
        return ("resync", ZONE) if _moves_zone(touch) else None
    entity, column = _KEY_COLUMN[touch.table]
    return (entity, str(capture.as_uuid(touch.row[column])))


def _moves_zone(touch: Touch) -> bool:
    """Whether `touch` changes the operator's time zone.

    A new zone moves every user's period start, some back to days the portal was never
    sent (a snapshot sends a user's usage from the floor on): only a new snapshot brings
    them all. A row written or removed equal to the default changes nothing.
    """
    row = touch.row
    if row.get("key") != ZONE:
        return False
    if touch.op == "update":
        return capture.changed(row, "value")
    return bool(row.get("value") != settings.DEFAULTS[ZONE])


def _record(session: Session, touches: list[Touch]) -> None:
    mark(session, (k for k in map(key, touches) if k is not None))


def track_changes(factory: sessionmaker[Session]) -> None:
    """Make every transaction of `factory` number what it changes (desktop only)."""
    capture.install(factory, TABLES, _record)


def mark(session: Session, keys: Iterable[tuple[str, str]]) -> None:
    """Record changes by hand (for code that writes past the session hooks).

    One driver-level executemany: ingestion marks ~100,000 user-days per round.
    """
    unique = list(dict.fromkeys(keys))
    if not unique:
        return
    ordering.serialize(session, "changes")
    raw = session.connection().connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        if session.get_bind().dialect.name == "postgresql":
            # Entity names and ids are plain words, uuids and dates: no COPY escaping needed.
            with cursor.copy("COPY sync_changes (entity, entity_id) FROM STDIN") as copy:
                copy.write("".join(f"{entity}\t{entity_id}\n" for entity, entity_id in unique))
        else:
            cursor.executemany("INSERT INTO sync_changes (entity, entity_id) VALUES (?, ?)", unique)
    finally:
        cursor.close()


def latest_version(session: Session) -> int:
    return int(session.scalar(select(func.max(SyncChange.version))) or 0)


def pending(session: Session, after: int) -> int:
    query = select(func.count()).select_from(SyncChange).where(SyncChange.version > after)
    return int(session.scalar(query) or 0)


def after(session: Session, version: int, limit: int) -> list[Change]:
    rows = session.execute(
        select(SyncChange.version, SyncChange.entity, SyncChange.entity_id)
        .where(SyncChange.version > version)
        .order_by(SyncChange.version)
        .limit(limit)
    )
    return [Change(v, e, i) for v, e, i in rows]


def prune(session: Session, upto: int) -> None:
    """Acknowledged changes are no longer needed (a re-pair starts with a snapshot)."""
    session.execute(delete(SyncChange).where(SyncChange.version <= upto))
