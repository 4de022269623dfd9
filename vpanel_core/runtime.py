"""Open a database ready for use: engine, migrated schema, session factory."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from vpanel_core import config
from vpanel_core.db import make_engine, migrate, session_factory


@dataclass(frozen=True, slots=True)
class Database:
    engine: Engine
    sessions: sessionmaker[Session]


def open_database(url: str | None = None, *, run_migrations: bool = True) -> Database:
    engine = make_engine(url or config.database_url())
    if run_migrations:
        migrate(engine)
    return Database(engine, session_factory(engine))
