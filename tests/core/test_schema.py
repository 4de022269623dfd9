"""The Alembic migrations produce exactly the schema the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from vpanel_core.models import Base
from vpanel_core.runtime import Database


def test_migrations_match_models(database: Database) -> None:
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_migrating_twice_is_a_no_op(database: Database) -> None:
    from vpanel_core.db import migrate

    migrate(database.engine)
    with database.engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    assert heads
