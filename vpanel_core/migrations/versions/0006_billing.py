"""billing: coupons, webhook event dedupe, chain transfers seen, order/payment columns

Revision ID: 0006_billing
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import vpanel_core.models.base

revision = "0006_billing"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coupons",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=True),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("valid_from", vpanel_core.models.base.UTCDateTime(), nullable=True),
        sa.Column("valid_until", vpanel_core.models.base.UTCDateTime(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("used >= 0", name=op.f("ck_coupons_used_non_negative")),
        sa.CheckConstraint("value > 0", name=op.f("ck_coupons_value_positive")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_coupons")),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=255), nullable=False),
        sa.Column("received_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
    )
    op.create_table(
        "chain_transfers",
        sa.Column("txid", sa.String(length=128), nullable=False),
        sa.Column("from_address", sa.String(length=64), nullable=False),
        sa.Column("to_address", sa.String(length=64), nullable=False),
        sa.Column("amount_micro", sa.BigInteger(), nullable=False),
        sa.Column("block_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=255), nullable=False),
        sa.Column("seen_at", vpanel_core.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_chain_transfers_order_id_orders"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("txid", name=op.f("pk_chain_transfers")),
    )
    with op.batch_alter_table("chain_transfers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chain_transfers_order_id"), ["order_id"], unique=False)

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("discount_minor", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.create_index(
            "uq_orders_pending_pay_amount",
            ["pay_amount_micro"],
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("charge_ref", sa.String(length=128), nullable=False, server_default="")
        )
        batch_op.create_index(batch_op.f("ix_payments_charge_ref"), ["charge_ref"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_charge_ref"))
        batch_op.drop_column("charge_ref")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("uq_orders_pending_pay_amount")
        batch_op.drop_column("discount_minor")
    with op.batch_alter_table("chain_transfers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chain_transfers_order_id"))
    op.drop_table("chain_transfers")
    op.drop_table("webhook_events")
    op.drop_table("coupons")
