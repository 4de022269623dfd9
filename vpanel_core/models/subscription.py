"""Subscription: the secret link a customer imports into a client."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vpanel_core.models.base import Base, UTCDateTime, new_id
from vpanel_core.timeutil import utcnow

if TYPE_CHECKING:
    from vpanel_core.models.user import User


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    token: Mapped[str] = mapped_column(String(64), unique=True)
    short_code: Mapped[str] = mapped_column(String(8), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    access_count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_access_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_access_ip: Mapped[str] = mapped_column(String(64), default="")
    last_access_ua: Mapped[str] = mapped_column(String(255), default="")

    user: Mapped[User] = relationship(back_populates="subscription")
