"""Entitlement grants: the append-only facts entitlements derive from (with usage)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, String, Uuid
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
