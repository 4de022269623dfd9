"""sync: desktop change log, portal event log, seen message ids, peers, pairing, node tokens

Revision ID: 0007_sync
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vpanel_core.models.base

revision = "0007_sync"
down_revision = "0001"
branch_labels = None
depends_on = None

COUNTER = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sync_changes",
        sa.Column("version", COUNTER, autoincrement=True, nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.String(length=160), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_sync_changes")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "sync_events",
        sa.Column("seq", COUNTER, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_sync_events")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("sync_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_events_user_id"), ["user_id"], unique=False)
    op.create_table(
        "sync_seen_messages",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("expires_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_sync_seen_messages")),
    )
    with op.batch_alter_table("sync_seen_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sync_seen_messages_expires_at"), ["expires_at"], unique=False
        )
    op.create_table(
        "sync_peers",
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=255), nullable=False),
        sa.Column("published_version", sa.BigInteger(), nullable=False),
        sa.Column("snapshot_version", sa.BigInteger(), nullable=True),
        sa.Column("snapshot_after", sa.String(length=64), nullable=True),
        sa.Column("events_cursor", sa.BigInteger(), nullable=False),
        sa.Column("access_since", vpanel_core.models.base.UTCDateTime(), nullable=True),
        sa.Column("paired_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("role", name=op.f("pk_sync_peers")),
    )
    op.create_table(
        "sync_pairing_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.Column("used_at", vpanel_core.models.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_sync_pairing_codes")),
    )
    op.create_table(
        "sync_node_credentials",
        sa.Column("node_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_sync_node_credentials")),
    )


def downgrade() -> None:
    op.drop_table("sync_node_credentials")
    op.drop_table("sync_pairing_codes")
    op.drop_table("sync_peers")
    with op.batch_alter_table("sync_seen_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_seen_messages_expires_at"))
    op.drop_table("sync_seen_messages")
    with op.batch_alter_table("sync_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_events_user_id"))
    op.drop_table("sync_events")
    op.drop_table("sync_changes")
