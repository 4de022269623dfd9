"""Consistent, rotated backups of the operator's SQLite database, and restore.

Uses SQLite's online backup API, so a backup taken while the app writes is still a
consistent snapshot (copying the file could catch a half-applied WAL).
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vpanel_core.errors import ValidationError

PREFIX = "vpanel-"
SUFFIX = ".db"


@dataclass(frozen=True, slots=True)
class BackupInfo:
    path: Path
    taken_at: datetime
    size: int


def sqlite_path(url: str) -> Path:
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        raise ValidationError("automatic backups are for the local SQLite database only")
    return Path(url.removeprefix("sqlite:///"))


def take_backup(database: Path, backup_dir: Path, *, keep: int = 14) -> BackupInfo:
    """Write a new backup, verify it, and keep only the newest `keep` backups."""
    if keep < 1:
        raise ValidationError("keep at least one backup")
    backup_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = backup_dir / f"{PREFIX}{stamp}{SUFFIX}"
    partial = target.with_suffix(".partial")
    copy_database(database, partial)
    if not is_healthy(partial):
        partial.unlink(missing_ok=True)
        raise ValidationError("backup failed its integrity check")
    os.chmod(partial, 0o600)
    os.replace(partial, target)
    rotate(backup_dir, keep)
    return BackupInfo(target, datetime.now(UTC), target.stat().st_size)


def list_backups(backup_dir: Path) -> list[BackupInfo]:
    found = []
    for path in sorted(backup_dir.glob(f"{PREFIX}*{SUFFIX}")):
        stat = path.stat()
        found.append(BackupInfo(path, datetime.fromtimestamp(stat.st_mtime, UTC), stat.st_size))
    return found


def rotate(backup_dir: Path, keep: int) -> None:
    for old in list_backups(backup_dir)[:-keep]:
        old.path.unlink(missing_ok=True)


def restore(backup: Path, database: Path) -> None:
    """Replace the database with a backup; the current one is kept beside it first."""
    if not is_healthy(backup):
        raise ValidationError(f"{backup.name} is damaged; choose another backup")
    if database.exists():
        copy_database(
            database, database.with_name(f"{database.name}.before-restore-{int(time.time())}")
        )
    copy_database(backup, database)


def is_healthy(path: Path) -> bool:
    with closing(sqlite3.connect(path)) as db:
        try:
            return bool(db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
        except sqlite3.DatabaseError:
            return False


def copy_database(source: Path, target: Path) -> None:
    """Copy with SQLite's online backup API: consistent even while `source` is written."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dest:
        src.backup(dest)


def backup_if_due(
    database: Path, backup_dir: Path, *, every_hours: float = 24, keep: int = 14
) -> BackupInfo | None:
    """The automatic backup: taken when the newest one is older than `every_hours`."""
    if not database.exists():
        return None
    existing = list_backups(backup_dir) if backup_dir.exists() else []
    if existing:
        age = datetime.now(UTC) - existing[-1].taken_at
        if age.total_seconds() < every_hours * 3600:
            return None
    return take_backup(database, backup_dir, keep=keep)
