"""Index users by (created_at, id) covering enabled: the desktop's default order.

Revision ID: 0008_users_created_index
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0008_users_created_index"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_users_created_at_id", "users", ["created_at", "id", "enabled"])


def downgrade() -> None:
    op.drop_index("ix_users_created_at_id", table_name="users")
