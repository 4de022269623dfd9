"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 06:52:19.475922
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vpanel_core.models.base

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "nodes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("ssh_port", sa.Integer(), nullable=False),
        sa.Column("ssh_user", sa.String(length=64), nullable=False),
        sa.Column("ssh_key_ref", sa.Text(), nullable=False),
        sa.Column("host_key", sa.Text(), nullable=False),
        sa.Column("group", sa.String(length=64), nullable=False),
        sa.Column("country", sa.String(length=8), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("api_secret", sa.String(length=64), nullable=False),
        sa.Column("remote_dir", sa.String(length=255), nullable=False),
        sa.Column("config_version", sa.String(length=64), nullable=False),
        sa.Column("last_push_at", vpanel_core.models.base.UTCDateTime(), nullable=True),
        sa.Column("last_push_result", sa.Text(), nullable=False),
        sa.Column("sing_box_version", sa.String(length=32), nullable=False),
        sa.Column("created_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
        sa.UniqueConstraint("name", name=op.f("uq_nodes_name")),
    )
    op.create_table(
        "plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("duration_days", sa.Integer(), nullable=False),
        sa.Column("traffic_bytes", sa.BigInteger(), nullable=False),
        sa.Column("reset_strategy", sa.String(length=16), nullable=False),
        sa.Column("node_groups", sa.JSON(), nullable=False),
        sa.Column("visible", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("created_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("duration_days > 0", name=op.f("ck_plans_duration_positive")),
        sa.CheckConstraint("price_minor >= 0", name=op.f("ck_plans_price_non_negative")),
        sa.CheckConstraint("traffic_bytes >= 0", name=op.f("ck_plans_traffic_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("name", name=op.f("uq_plans_name")),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_settings")),
    )
    op.create_table(
        "inbounds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("node_id", sa.Uuid(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("listen_port", sa.Integer(), nullable=False),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("service_name", sa.String(length=255), nullable=False),
        sa.Column("tls_mode", sa.String(length=16), nullable=False),
        sa.Column("sni", sa.String(length=255), nullable=False),
        sa.Column("client_host", sa.String(length=255), nullable=False),
        sa.Column("client_port", sa.Integer(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], name=op.f("fk_inbounds_node_id_nodes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbounds")),
        sa.UniqueConstraint("node_id", "tag", name=op.f("uq_inbounds_node_id")),
    )
    with op.batch_alter_table("inbounds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbounds_node_id"), ["node_id"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("email_verified", sa.Boolean(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("credential", sa.Uuid(), nullable=False),
        sa.Column("proxy_secret", sa.String(length=64), nullable=False),
        sa.Column("reset_strategy", sa.String(length=16), nullable=False),
        sa.Column("node_groups", sa.JSON(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=True),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("created_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_users_plan_id_plans"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("credential", name=op.f("uq_users_credential")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "grants",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("seconds", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("unlimited", sa.Boolean(), nullable=False),
        sa.Column("reverses", sa.String(length=128), nullable=True),
        sa.Column("effective_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("note", sa.String(length=255), nullable=False),
        sa.Column("created_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("bytes >= 0", name=op.f("ck_grants_bytes_non_negative")),
        sa.CheckConstraint("seconds >= 0", name=op.f("ck_grants_seconds_non_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_grants_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants")),
    )
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grants_user_id"), ["user_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("pay_amount_micro", sa.BigInteger(), nullable=True),
        sa.Column("coupon_code", sa.String(length=32), nullable=False),
        sa.Column("provider_ref", sa.String(length=128), nullable=False),
        sa.Column("flagged", sa.String(length=255), nullable=False),
        sa.Column("created_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.Column("paid_at", vpanel_core.models.base.UTCDateTime(), nullable=True),
        sa.CheckConstraint("amount_minor >= 0", name=op.f("ck_orders_amount_non_negative")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_orders_plan_id_plans"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_orders_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_user_id"), ["user_id"], unique=False)

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("short_code", sa.String(length=8), nullable=False),
        sa.Column("created_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.Column("access_count", sa.BigInteger(), nullable=False),
        sa.Column("last_access_at", vpanel_core.models.base.UTCDateTime(), nullable=True),
        sa.Column("last_access_ip", sa.String(length=64), nullable=False),
        sa.Column("last_access_ua", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_subscriptions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("short_code", name=op.f("uq_subscriptions_short_code")),
        sa.UniqueConstraint("token", name=op.f("uq_subscriptions_token")),
        sa.UniqueConstraint("user_id", name=op.f("uq_subscriptions_user_id")),
    )
    op.create_table(
        "usage_records",
        sa.Column("node_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("uplink", sa.BigInteger(), nullable=False),
        sa.Column("downlink", sa.BigInteger(), nullable=False),
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

    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_events_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
    )
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_events_order_id"), ["order_id"], unique=False)

    op.create_table(
        "payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_ref", sa.String(length=128), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_payments_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("provider", "provider_ref", name=op.f("uq_payments_provider")),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_order_id"), ["order_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_order_id"))

    op.drop_table("payments")
    with op.batch_alter_table("order_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_events_order_id"))

    op.drop_table("order_events")
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_records_user_ended")

    op.drop_table("usage_records")
    op.drop_table("subscriptions")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_user_id"))
        batch_op.drop_index(batch_op.f("ix_orders_status"))

    op.drop_table("orders")
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grants_user_id"))

    op.drop_table("grants")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_plan_id"))

    op.drop_table("users")
    with op.batch_alter_table("inbounds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbounds_node_id"))

    op.drop_table("inbounds")
    op.drop_table("settings")
    op.drop_table("plans")
    op.drop_table("nodes")
