"""Usage accounting tables: rollups the ledger and charts read, dedupe ranges, cursors.

Per-record rows would cost a million writes per collection round at 100,000 users on 10
nodes; instead a round is summed in memory and lands as one row per user in each rollup.
The rollups are keyed time first (hour or day, then user), so a round writes one
contiguous region of each table instead of touching every page of a user-keyed index.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vpanel_core.models.base import Base, UTCDateTime

# SQLite keeps these tables in primary-key order (no separate rowid tree to maintain).
_CLUSTERED = {"sqlite_with_rowid": False}


class _Bytes:
    """The two counters every rollup row carries."""

    uplink: Mapped[int] = mapped_column(BigInteger, default=0)
    downlink: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageApplied(Base):
    """A run of journal sequences already applied for a node: a record counts once."""

    __tablename__ = "usage_applied"
    __table_args__ = _CLUSTERED

    node_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True
    )
    first_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)


class UsageHourly(_Bytes, Base):
    """Bytes per user per operator-local hour of each record's end: the grain for resets.

    Kept for `HOURLY_RETENTION_DAYS`; older hours live on in `UsageDaily`.
    """

    __tablename__ = "usage_hourly"
    __table_args__ = _CLUSTERED

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)


class UsageDaily(_Bytes, Base):
    """Bytes per user per operator-local day (of each record's end), kept for good."""

    __tablename__ = "usage_daily"
    __table_args__ = _CLUSTERED

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)


class UsageNodeDaily(_Bytes, Base):
    """Bytes per node per operator-local day, for node charts."""

    __tablename__ = "usage_node_daily"
    __table_args__ = _CLUSTERED

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    node_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)


class UsageTotal(_Bytes, Base):
    """A user's all-time bytes, last activity and the node it was on (for allowance shares).

    No foreign key: ingestion already checked the user exists, and a key check per row is a
    third of this table's write cost; `delete_user` removes the row.
    """

    __tablename__ = "usage_totals"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_node_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class UsageUnknown(Base):
    """Journal records naming no known user: kept for the operator, counted against nobody."""

    __tablename__ = "usage_unknown"

    node_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_name: Mapped[str] = mapped_column(String(128))
    uplink: Mapped[int] = mapped_column(BigInteger, default=0)
    downlink: Mapped[int] = mapped_column(BigInteger, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UsageCursor(Base):
    """How far a node's journal has been applied, and what the last collection noticed."""

    __tablename__ = "usage_cursors"

    node_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True
    )
    applied_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    clock_skew_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    torn_lines: Mapped[int] = mapped_column(Integer, default=0)
    corrupt_lines: Mapped[int] = mapped_column(Integer, default=0)
    unknown_records: Mapped[int] = mapped_column(Integer, default=0)
