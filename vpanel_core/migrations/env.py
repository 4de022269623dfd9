"""Alembic environment: the engine is handed in by `vpanel_core.db.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from vpanel_core.models import Base

config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through vpanel_core.db.migrate(engine)")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
