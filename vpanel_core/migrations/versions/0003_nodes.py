"""Nodes: per-node sing-box API port and the private-destination switch.

Revision ID: 0003_nodes
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_nodes"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("api_port", sa.Integer(), nullable=False, server_default="10086")
        )
        batch_op.add_column(
            sa.Column(
                "allow_private_targets", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_column("allow_private_targets")
        batch_op.drop_column("api_port")
