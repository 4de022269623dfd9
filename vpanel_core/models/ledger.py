"""Entitlement grants and usage records: the append-only facts entitlements derive from."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vpanel_core.models.base import Base, UTCDateTime
from vpanel_core.timeutil import utcnow


class Grant(Base):
    """One immutable entitlement fact; its id is globally unique across replicas.

    Ids derived from their cause (``payment:<provider>:<ref>``) make re-processing the
    same cause a no-op at the primary key.
    """

    __tablename__ = "grants"
    __table_args__ = (
        CheckConstraint("seconds >= 0", name="seconds_non_negative"),
        CheckConstraint("bytes >= 0", name="bytes_non_negative"),
    )

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    unlimited: Mapped[bool] = mapped_column(Boolean, default=False)
    reverses: Mapped[str | None] = mapped_column(String(128))
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(32), default="manual")
    note: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UsageRecord(Base):
    """Traffic one user moved through one node, journaled by the node with a sequence."""

    __tablename__ = "usage_records"
    __table_args__ = (
        CheckConstraint("uplink >= 0 AND downlink >= 0", name="bytes_non_negative"),
        Index("ix_usage_records_user_ended", "user_id", "ended_at"),
    )

    node_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    uplink: Mapped[int] = mapped_column(BigInteger, default=0)
    downlink: Mapped[int] = mapped_column(BigInteger, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)
