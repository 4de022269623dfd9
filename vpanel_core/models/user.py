"""Users: the customer account and its proxy credentials."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vpanel_core.models.base import Base, UTCDateTime, new_id
from vpanel_core.timeutil import utcnow

if TYPE_CHECKING:
    from vpanel_core.models.subscription import Subscription


class User(Base):
    __tablename__ = "users"
    # The desktop's default order over 100,000 users with no sort step and no table
    # lookups (enabled is in the index: the status filters read it).
    __table_args__ = (Index("ix_users_created_at_id", "created_at", "id", "enabled"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    alias: Mapped[str] = mapped_column(String(64), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    role: Mapped[str] = mapped_column(String(16), default="customer")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    credential: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=new_id)
    proxy_secret: Mapped[str] = mapped_column(String(64))
    reset_strategy: Mapped[str] = mapped_column(String(16), default="none")
    node_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    plan_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("plans.id", ondelete="SET NULL"), index=True
    )
    locale: Mapped[str] = mapped_column(String(8), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    subscription: Mapped[Subscription | None] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True, uselist=False
    )

    def public_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.username,
            "email": self.email,
            "alias": self.alias,
            "enabled": self.enabled,
            "role": self.role,
            "reset_strategy": self.reset_strategy,
            "node_groups": list(self.node_groups or []),
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }
