"""Usage accounting tables: daily rollups for charts, unknown-user reports, per-node cursors."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vpanel_core.models.base import Base, UTCDateTime


class UsageDaily(Base):
    """Bytes per user per node per operator-local day, maintained as records are ingested."""

    __tablename__ = "usage_daily"
    __table_args__ = (Index("ix_usage_daily_day", "day"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    node_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    uplink: Mapped[int] = mapped_column(BigInteger, default=0)
    downlink: Mapped[int] = mapped_column(BigInteger, default=0)


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
