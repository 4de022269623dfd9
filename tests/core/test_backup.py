"""Automatic, rotated, consistent backups of the desktop database, and restore."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from vpanel_core.backup import list_backups, restore, take_backup
from vpanel_core.db import transaction
from vpanel_core.errors import ValidationError
from vpanel_core.models import User
from vpanel_core.runtime import open_database
from vpanel_core.services import users


def user_count(url: str) -> int:
    db = open_database(url)
    with db.sessions() as session:
        value = int(session.scalar(select(func.count()).select_from(User)) or 0)
    db.engine.dispose()
    return value


def test_backup_then_restore_brings_back_deleted_users(tmp_path: Path) -> None:
    path = tmp_path / "vpanel.db"
    db = open_database(f"sqlite:///{path}")
    with transaction(db.sessions) as session:
        for i in range(5):
            users.create_user(session, users.NewUser(username=f"user{i}", days=30))
    backup = take_backup(path, tmp_path / "backups")
    with transaction(db.sessions) as session:
        users.delete_user(session, users.find_user(session, "user0"))
    db.engine.dispose()
    assert user_count(f"sqlite:///{path}") == 4
    restore(backup.path, path)
    assert user_count(f"sqlite:///{path}") == 5
    assert list(tmp_path.glob("vpanel.db.before-restore-*"))


def test_backups_rotate_keeping_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "vpanel.db"
    open_database(f"sqlite:///{path}").engine.dispose()
    taken = [take_backup(path, tmp_path / "b", keep=3).path for _ in range(5)]
    assert [b.path for b in list_backups(tmp_path / "b")] == taken[-3:]


def test_backup_during_concurrent_writes_is_consistent(tmp_path: Path) -> None:
    path = tmp_path / "vpanel.db"
    db = open_database(f"sqlite:///{path}")
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            with transaction(db.sessions) as session:
                users.create_user(session, users.NewUser(username=f"w{i:05d}", days=1))
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        backups = [take_backup(path, tmp_path / "b", keep=10) for _ in range(3)]
    finally:
        stop.set()
        thread.join()
    db.engine.dispose()
    counts = [user_count(f"sqlite:///{b.path}") for b in backups]
    assert counts == sorted(counts)
    for b in backups:
        restored = tmp_path / f"r-{b.path.name}"
        restore(b.path, restored)
        db2 = open_database(f"sqlite:///{restored}")
        with db2.sessions() as session:
            subs = session.scalars(select(User)).all()
            assert all(u.subscription is not None for u in subs)
        db2.engine.dispose()


def test_restoring_a_damaged_backup_is_refused_and_keeps_the_database(tmp_path: Path) -> None:
    path = tmp_path / "vpanel.db"
    db = open_database(f"sqlite:///{path}")
    with transaction(db.sessions) as session:
        users.create_user(session, users.NewUser(username="keep", days=1))
    db.engine.dispose()
    damaged = tmp_path / "vpanel-bad.db"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    with pytest.raises(ValidationError, match="damaged"):
        restore(damaged, path)
    assert user_count(f"sqlite:///{path}") == 1


def test_automatic_backup_runs_only_when_due(tmp_path: Path) -> None:
    from vpanel_core.backup import backup_if_due

    path = tmp_path / "vpanel.db"
    open_database(f"sqlite:///{path}").engine.dispose()
    first = backup_if_due(path, tmp_path / "b", every_hours=24)
    assert first is not None
    assert backup_if_due(path, tmp_path / "b", every_hours=24) is None
    assert backup_if_due(path, tmp_path / "b", every_hours=0) is not None
