"""Subscription fetches counted on disk before the answer leaves, in the database soon after.

An UPDATE per fetch made every fetch a database write (on SQLite: one writer at a time,
bench_serving 236 req/s). Instead each fetch appends one line to a spool file before its
response is returned. The file is memory-mapped: the line is copied into the page cache
without a system call (a `write(2)` releases the GIL, and getting it back behind 7 busy
threads cost milliseconds per fetch), and page-cache pages of a shared mapping belong
to the file, so the line survives a SIGKILL of the process (not a power cut of the
machine). `flush` drains the spool into `subscriptions` every few seconds
(`serving.SPOOL_SECONDS`), so access statistics lag by that much: all its files in one
transaction that updates each link fetched meanwhile once (on SQLite in one statement:
a statement per link cost the draining thread a GIL round trip each, seconds under load).

Files are per thread (no lock shared by the threads) and held under `flock` while their
owner lives. A file whose lock can be taken belongs to a dead process: the next `flush`
of any process sharing the directory drains it (and every process drains them when it
starts). Files are deleted right after the transaction that applied them commits; a
process killed in the microseconds between the two would apply them twice at the next
drain.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import mmap
import os
import secrets
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from vpanel_core import config as core_config
from vpanel_core.services.subscriptions import Access, record_accesses

log = logging.getLogger(__name__)
SUFFIX = ".spool"
#: each file's size; a thread whose file is full starts another (unwritten bytes are 0)
FILE_BYTES = 1 << 20
_UNSAFE = str.maketrans("\t\n\r\0", "    ")


def spool_dir(database_url: str) -> Path:
    """Next to a SQLite file (like its -wal); else per database in the data directory, so
    two deployments on one machine never drain into each other's database."""
    url = make_url(database_url)
    if url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:"):
        return Path(f"{url.database}-access")
    digest = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()
    return core_config.data_dir() / "access-spool" / digest[:16]


@dataclass(slots=True)
class _File:
    fd: int  # holds the flock
    path: Path
    map: mmap.mmap
    used: int = 0

    def close(self) -> None:
        self.map.close()
        os.close(self.fd)  # drops the lock


class _Writer:
    """One thread's current file (`lock` is only contended by `flush`, once a second)."""

    __slots__ = ("file", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.file: _File | None = None  # opened on the thread's first fetch


class AccessSpool:
    """This process's append-only record of fetches (thread-safe)."""

    def __init__(
        self, directory: Path, unit: Callable[[], AbstractContextManager[Session]]
    ) -> None:
        self.directory = directory
        self._unit = unit
        self._flush_lock = threading.Lock()
        self._thread = threading.local()
        self._writers: list[_Writer] = []
        self._pending: list[_File] = []  # rotated away, not yet applied
        directory.mkdir(parents=True, exist_ok=True)

    def _new_file(self) -> _File:
        name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
        path = self.directory / name
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, FILE_BYTES)
        return _File(fd, path, mmap.mmap(fd, FILE_BYTES))

    def record(self, subscription_id: uuid.UUID, ip: str, user_agent: str, at: datetime) -> None:
        """One fetch; durable against a crash of this process once this returns."""
        data = (
            f"{subscription_id.hex}\t{at.timestamp():.6f}\t"
            f"{ip[:64].translate(_UNSAFE)}\t{user_agent[:255].translate(_UNSAFE)}\n"
        ).encode()
        writer: _Writer | None = getattr(self._thread, "writer", None)
        if writer is None:
            writer = self._thread.writer = _Writer()
            with self._flush_lock:
                self._writers.append(writer)
        with writer.lock:
            file = writer.file
            if file is None or file.used + len(data) > FILE_BYTES:
                if file is not None:
                    self._pending.append(file)
                file = writer.file = self._new_file()
            file.map[file.used : file.used + len(data)] = data
            file.used += len(data)

    def flush(self) -> int:
        """Apply what this process spooled and any dead process's files in one transaction
        (one UPDATE on SQLite, `record_accesses`), then delete them; fetches applied."""
        with self._flush_lock:
            for writer in self._writers:
                with writer.lock:
                    current, writer.file = writer.file, None
                if current is not None:
                    self._pending.append(current)
            # Other live processes' files are skipped (locked); this process's own are not
            # even opened (three system calls each, a GIL round trip each under load).
            mine = {f.path for f in self._pending}
            mine |= {file.path for w in self._writers if (file := w.file) is not None}
            orphans = [
                o
                for path in self.directory.glob(f"*{SUFFIX}")
                if path not in mine and (o := _adopt(path))
            ]
            try:
                chunks = [f.map[: f.used] for f in self._pending]
                chunks += [path.read_bytes() for _fd, path in orphans]
                accesses = _aggregate(chunks)
                if accesses:
                    with self._unit() as session:
                        record_accesses(session, accesses)  # raises: every file kept
                for path in [f.path for f in self._pending] + [path for _fd, path in orphans]:
                    path.unlink()
            finally:
                for fd, _path in orphans:
                    os.close(fd)  # drops the lock
            for file in self._pending:
                file.close()
            self._pending.clear()
            return sum(a.count for a in accesses.values())


def _adopt(path: Path) -> tuple[int, Path] | None:
    """(fd holding its lock, path) of a file whose owner is dead (its lock is free)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None  # drained by another process meanwhile
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None  # alive
    if os.fstat(fd).st_nlink == 0:
        os.close(fd)
        return None  # drained and deleted by another process before we locked it
    log.info("draining access spool %s left by a stopped process", path.name)
    return fd, path


def _aggregate(chunks: Iterable[bytes]) -> dict[uuid.UUID, Access]:
    """Per link: how many fetches, and the newest one's time, address and User-Agent.

    Lines are tallied as bytes and only each link's newest is decoded: a busy second
    spools thousands of fetches of the same few hundred links. In each chunk, what
    follows the first NUL was never written and the piece after the final newline is a
    line torn by a crash (or empty); unreadable lines are skipped rather than block the
    file forever."""
    counts: dict[bytes, int] = {}
    newest: dict[bytes, tuple[float, list[bytes]]] = {}
    for data in chunks:
        for raw in data.split(b"\0", 1)[0].split(b"\n")[:-1]:
            fields = raw.split(b"\t")
            if len(fields) != 4:
                continue
            try:
                at = float(fields[1])
            except ValueError:
                continue
            sub = fields[0]
            counts[sub] = counts.get(sub, 0) + 1
            seen = newest.get(sub)
            if seen is None or at >= seen[0]:
                newest[sub] = (at, fields)
    totals: dict[uuid.UUID, Access] = {}
    for sub, (at, fields) in newest.items():
        try:
            key = uuid.UUID(sub.decode(errors="replace"))
        except ValueError:
            continue
        ip, ua = (f.decode(errors="replace") for f in fields[2:])
        totals[key] = Access(counts[sub], datetime.fromtimestamp(at, UTC), ip, ua)
    return totals
