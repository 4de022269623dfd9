"""Nodes (servers running sing-box) and their inbounds."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from vpanel_core.models.base import Base, UTCDateTime, new_id
from vpanel_core.timeutil import utcnow

DEFAULT_API_PORT = 10086


class Node(Base):
    __tablename__ = "nodes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    ssh_port: Mapped[int] = mapped_column(Integer, default=22)
    ssh_user: Mapped[str] = mapped_column(String(64), default="root")
    ssh_key_ref: Mapped[str] = mapped_column(Text, default="")
    host_key: Mapped[str] = mapped_column(Text, default="")
    group: Mapped[str] = mapped_column(String(64), default="default")
    country: Mapped[str] = mapped_column(String(8), default="")
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    api_secret: Mapped[str] = mapped_column(String(64), default="")
    # sing-box `api` service port on the node's 127.0.0.1 (per node: nodes may share a host).
    api_port: Mapped[int] = mapped_column(Integer, default=DEFAULT_API_PORT)
    # Off by default: proxy users must not reach the node's own or its LAN's services.
    allow_private_targets: Mapped[bool] = mapped_column(Boolean, default=False)
    remote_dir: Mapped[str] = mapped_column(String(255), default="/opt/vpanel-node")
    config_version: Mapped[str] = mapped_column(String(64), default="")
    last_push_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_push_result: Mapped[str] = mapped_column(Text, default="")
    sing_box_version: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    inbounds: Mapped[list[Inbound]] = relationship(
        back_populates="node",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Inbound.listen_port",
    )


class Inbound(Base):
    """One listening service on a node.

    `settings` holds protocol secrets the app generated (REALITY keys and short ids,
    SS2022 server PSK and method, certificate PEMs, obfs password). The client-facing
    address/port/SNI may differ from the listen ones (CDN, relay, NAT).
    """

    __tablename__ = "inbounds"
    __table_args__ = (UniqueConstraint("node_id", "tag"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    node_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("nodes.id", ondelete="CASCADE"), index=True
    )
    tag: Mapped[str] = mapped_column(String(64))
    protocol: Mapped[str] = mapped_column(String(16))
    listen_port: Mapped[int] = mapped_column(Integer)
    transport: Mapped[str] = mapped_column(String(16), default="tcp")
    path: Mapped[str] = mapped_column(String(255), default="")
    service_name: Mapped[str] = mapped_column(String(255), default="")
    tls_mode: Mapped[str] = mapped_column(String(16), default="tls")
    sni: Mapped[str] = mapped_column(String(255), default="")
    client_host: Mapped[str] = mapped_column(String(255), default="")
    client_port: Mapped[int | None] = mapped_column(Integer)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    node: Mapped[Node] = relationship(back_populates="inbounds")
