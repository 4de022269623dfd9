"""Usage accounting: daily rollups, unknown-user records, per-node collection cursors.

Revision ID: 0005_accounting
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vpanel_core.models.base

revision = "0005_accounting"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_daily",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("node_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("uplink", sa.BigInteger(), nullable=False),
        sa.Column("downlink", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_usage_daily_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "node_id", "day", name=op.f("pk_usage_daily")),
    )
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.create_index("ix_usage_daily_day", ["day"], unique=False)

    op.create_table(
        "usage_unknown",
        sa.Column("node_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("user_name", sa.String(length=128), nullable=False),
        sa.Column("uplink", sa.BigInteger(), nullable=False),
        sa.Column("downlink", sa.BigInteger(), nullable=False),
        sa.Column("started_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.Column("ended_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("node_id", "seq", name=op.f("pk_usage_unknown")),
    )
    op.create_table(
        "usage_cursors",
        sa.Column("node_id", sa.Uuid(), nullable=False),
        sa.Column("applied_seq", sa.BigInteger(), nullable=False),
        sa.Column("collected_at", vpanel_core.models.base.UTCDateTime(), nullable=True),
        sa.Column("clock_skew_ms", sa.BigInteger(), nullable=False),
        sa.Column("torn_lines", sa.Integer(), nullable=False),
        sa.Column("corrupt_lines", sa.Integer(), nullable=False),
        sa.Column("unknown_records", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["nodes.id"],
            name=op.f("fk_usage_cursors_node_id_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_usage_cursors")),
    )


def downgrade() -> None:
    op.drop_table("usage_cursors")
    op.drop_table("usage_unknown")
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_daily_day")
    op.drop_table("usage_daily")
