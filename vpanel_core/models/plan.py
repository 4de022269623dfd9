"""Plans the operator sells."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from vpanel_core.models.base import Base, UTCDateTime, new_id
from vpanel_core.timeutil import utcnow


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint("price_minor >= 0", name="price_non_negative"),
        CheckConstraint("duration_days > 0", name="duration_positive"),
        CheckConstraint("traffic_bytes >= 0", name="traffic_non_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8), default="USD")
    duration_days: Mapped[int] = mapped_column(Integer)
    traffic_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    reset_strategy: Mapped[str] = mapped_column(String(16), default="none")
    node_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    visible: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def unlimited_traffic(self) -> bool:
        return self.traffic_bytes == 0
