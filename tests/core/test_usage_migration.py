"""Upgrading a database that holds per-record usage keeps every byte and every dedupe key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, func, insert, select, text
from sqlalchemy.orm import Session

from tests.fixtures.databases import PG_AVAILABLE, create_pg_database, drop_pg_database
from vpanel_core.db import alembic_config
from vpanel_core.models import (
    Node,
    UsageApplied,
    UsageDaily,
    UsageHourly,
    UsageNodeDaily,
    UsageTotal,
    User,
)
from vpanel_core.usage.ingest import apply_records
from vpanel_core.usage.schema import UsageLine

BEFORE = (
    "0002_portal",
    "0003_nodes",
    "0005_accounting",
    "0006_billing",
    "0007_sync",
    "0008_users_created_index",
)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        made = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield made
        made.dispose()
        return
    if not PG_AVAILABLE:
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not reachable")
    url = create_pg_database()
    made = create_engine(url)
    yield made
    made.dispose()
    drop_pg_database(url)


def _old_rows(engine: Engine, user: uuid.UUID, node: uuid.UUID, ended: datetime) -> None:
    pg = engine.dialect.name == "postgresql"
    key = str if pg else (lambda u: u.hex)
    stamp = ended.replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(
            insert(User.__table__).values(
                id=user, username="old", proxy_secret="s", credential=uuid.uuid4()
            )
        )
        conn.execute(insert(Node.__table__).values(id=node, name="n", host="h"))
        for seq in (1, 2, 3, 5):  # 4 never arrived: two runs, 1-3 and 5
            conn.execute(
                text(
                    "INSERT INTO usage_records (node_id, seq, user_id, uplink, downlink, "
                    "started_at, ended_at) VALUES (:n, :s, :u, :s, 100, :t, :t)"
                ),
                {"n": key(node), "s": seq, "u": key(user), "t": stamp},
            )
        conn.execute(
            text(
                "INSERT INTO usage_daily (user_id, node_id, day, uplink, downlink) "
                "VALUES (:u, :n, :d, 11, 400)"
            ),
            {"u": key(user), "n": key(node), "d": ended.date()},
        )


def test_upgrade_turns_records_into_rollups_and_runs(engine: Engine) -> None:
    config = alembic_config(engine)
    for revision in BEFORE:
        command.upgrade(config, revision)
    user, node = uuid.uuid4(), uuid.uuid4()
    ended = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(days=1)
    _old_rows(engine, user, node, ended)
    command.upgrade(config, "heads")
    with engine.connect() as conn:
        total = conn.execute(select(UsageTotal.uplink, UsageTotal.downlink)).one()
        daily = conn.execute(select(UsageDaily.day, UsageDaily.downlink)).all()
        per_node = conn.execute(select(func.sum(UsageNodeDaily.downlink))).scalar()
        hourly = conn.execute(select(func.sum(UsageHourly.downlink))).scalar()
        runs = conn.execute(
            select(UsageApplied.first_seq, UsageApplied.last_seq).order_by(UsageApplied.first_seq)
        ).all()
    assert tuple(total) == (1 + 2 + 3 + 5, 400)
    assert [tuple(d) for d in daily] == [(ended.date(), 400)]
    assert per_node == 400 and hourly == 400
    assert [tuple(r) for r in runs] == [(1, 3), (5, 5)]
    # Replaying the old sequences after the upgrade counts nothing again; 4 still can.
    t = int(ended.timestamp() * 1000)
    with Session(engine) as session, session.begin():
        lines = [UsageLine(q, str(user), 0, 7, t, t) for q in range(1, 6)]
        result = apply_records(session, node, lines, ZoneInfo("UTC"))
    assert (result.applied, result.duplicates) == (1, 4)
