"""Tables of the sync machinery; each side uses the ones for its role."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vpanel_core.models.base import Base, UTCDateTime
from vpanel_core.timeutil import utcnow

COUNTER = BigInteger().with_variant(Integer(), "sqlite")


class SyncChange(Base):
    """Desktop: one entity touched by a transaction, numbered by the change counter.

    Written in the same transaction as the change (session hooks in `capture`), so a
    committed change always has a version and a rolled-back one never does.
    """

    __tablename__ = "sync_changes"
    # AUTOINCREMENT: SQLite must never reuse a number after old changes are pruned.
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012

    version: Mapped[int] = mapped_column(COUNTER, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(String(160))


class SyncEvent(Base):
    """Portal: the append-only event log the desktop pulls with a cursor (`seq`)."""

    __tablename__ = "sync_events"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012

    seq: Mapped[int] = mapped_column(COUNTER, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncSeenMessage(Base):
    """Both sides: ids (jti) of accepted messages, kept until they would have expired."""

    __tablename__ = "sync_seen_messages"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SyncPeer(Base):
    """The paired other side: its public key and where each direction has got to.

    Desktop row (role ``portal``): `url`, `published_version` (acked by the portal),
    `snapshot_version` / `snapshot_after` while a snapshot is under way, and
    `events_cursor` (last portal event applied), `access_since` (newest access
    statistic received). Portal row (role ``desktop``):
    `published_version` is the last desktop version applied.
    """

    __tablename__ = "sync_peers"

    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    public_key: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(255), default="")
    published_version: Mapped[int] = mapped_column(BigInteger, default=0)
    snapshot_version: Mapped[int | None] = mapped_column(BigInteger)
    snapshot_after: Mapped[str | None] = mapped_column(String(64))
    events_cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    access_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncPairingCode(Base):
    """Portal: a one-time pairing code (only its SHA-256 is stored)."""

    __tablename__ = "sync_pairing_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NodeCredential(Base):
    """Portal: SHA-256 of the token a node presents to pull its entitlements."""

    __tablename__ = "sync_node_credentials"

    node_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
