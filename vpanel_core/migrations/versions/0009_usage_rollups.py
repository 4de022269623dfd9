"""Usage as rollups: per-record rows give way to hour, day, node-day and all-time sums.

The records already applied become sequence runs (`usage_applied`), so nothing counts
twice after the upgrade. Hours are rebuilt for the last 40 days on UTC hours (the same
as local hours for whole-hour zones). Downgrading keeps the tables, not the figures.

Revision ID: 0009_usage_rollups
Revises: 0005_accounting
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vpanel_core.models.base

revision = "0009_usage_rollups"
down_revision = "0005_accounting"
branch_labels = None
depends_on = None

_CLUSTERED = {"sqlite_with_rowid": False}


def _bytes() -> list[sa.Column[int]]:
    return [
        sa.Column("uplink", sa.BigInteger(), nullable=False),
        sa.Column("downlink", sa.BigInteger(), nullable=False),
    ]


def _create_rollups() -> None:
    op.create_table(
        "usage_applied",
        sa.Column("node_id", sa.Uuid(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["nodes.id"],
            name=op.f("fk_usage_applied_node_id_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("node_id", "first_seq", name=op.f("pk_usage_applied")),
        **_CLUSTERED,
    )
    op.create_table(
        "usage_hourly",
        sa.Column("hour", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        *_bytes(),
        sa.PrimaryKeyConstraint("hour", "user_id", name=op.f("pk_usage_hourly")),
        **_CLUSTERED,
    )
    op.create_table(
        "usage_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        *_bytes(),
        sa.PrimaryKeyConstraint("day", "user_id", name=op.f("pk_usage_daily")),
        **_CLUSTERED,
    )
    op.create_table(
        "usage_node_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("node_id", sa.Uuid(), nullable=False),
        *_bytes(),
        sa.PrimaryKeyConstraint("day", "node_id", name=op.f("pk_usage_node_daily")),
        **_CLUSTERED,
    )
    op.create_table(
        "usage_totals",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        *_bytes(),
        sa.Column("last_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.Column("last_node_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_usage_totals")),
    )


def _room_for_updates() -> None:
    """PostgreSQL: leave room in each page, so a round's updates stay HOT (no index churn)."""
    if op.get_bind().dialect.name == "postgresql":
        for table in ("usage_hourly", "usage_daily", "usage_totals"):
            op.execute(f"ALTER TABLE {table} SET (fillfactor = 70)")


def _hour_of(column: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"date_trunc('hour', {column})"
    return f"strftime('%Y-%m-%d %H:00:00.000000', {column})"


def upgrade() -> None:
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_daily_day")
    op.rename_table("usage_daily", "usage_node_user_daily")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE usage_node_user_daily RENAME CONSTRAINT pk_usage_daily "
            "TO pk_usage_node_user_daily"
        )
    _create_rollups()
    _room_for_updates()
    hour = _hour_of("ended_at")
    recent = (
        "now() - interval '40 days'"
        if op.get_bind().dialect.name == "postgresql"
        else "datetime('now', '-40 days')"
    )
    for statement in (
        "INSERT INTO usage_totals (user_id, uplink, downlink, last_at, last_node_id) "
        "SELECT user_id, SUM(uplink), SUM(downlink), MAX(ended_at), NULL FROM usage_records "
        "GROUP BY user_id",
        "INSERT INTO usage_hourly (hour, user_id, uplink, downlink) "  # noqa: S608
        f"SELECT {hour}, user_id, SUM(uplink), SUM(downlink) FROM usage_records "
        f"WHERE ended_at >= {recent} GROUP BY {hour}, user_id",
        "INSERT INTO usage_daily (day, user_id, uplink, downlink) SELECT day, user_id, "
        "SUM(uplink), SUM(downlink) FROM usage_node_user_daily GROUP BY day, user_id",
        "INSERT INTO usage_node_daily (day, node_id, uplink, downlink) SELECT day, node_id, "
        "SUM(uplink), SUM(downlink) FROM usage_node_user_daily GROUP BY day, node_id",
        # Runs of consecutive sequences ("gaps and islands"), unknown-user records included.
        "INSERT INTO usage_applied (node_id, first_seq, last_seq) "
        "SELECT node_id, MIN(seq), MAX(seq) FROM (SELECT node_id, seq, "
        "seq - ROW_NUMBER() OVER (PARTITION BY node_id ORDER BY seq) AS island FROM "
        "(SELECT node_id, seq FROM usage_records UNION SELECT node_id, seq FROM usage_unknown) "
        "AS applied WHERE node_id IN (SELECT id FROM nodes)) AS runs GROUP BY node_id, island",
    ):
        op.execute(statement)
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_records_user_ended")
    op.drop_table("usage_records")
    op.drop_table("usage_node_user_daily")


def downgrade() -> None:
    op.drop_table("usage_daily")
    op.drop_table("usage_totals")
    op.drop_table("usage_node_daily")
    op.drop_table("usage_hourly")
    op.drop_table("usage_applied")
    op.create_table(
        "usage_daily",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("node_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *_bytes(),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_usage_daily_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "node_id", "day", name=op.f("pk_usage_daily")),
    )
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.create_index("ix_usage_daily_day", ["day"], unique=False)
    op.create_table(
        "usage_records",
        sa.Column("node_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        *_bytes(),
        sa.Column("started_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.Column("ended_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "uplink >= 0 AND downlink >= 0", name=op.f("ck_usage_records_bytes_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_usage_records_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("node_id", "seq", name=op.f("pk_usage_records")),
    )
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.create_index("ix_usage_records_user_ended", ["user_id", "ended_at"], unique=False)
