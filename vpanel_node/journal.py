"""The node's durable usage journal: append-only JSON lines, fsync'd, atomically compacted.

One file, two kinds of line:

* a usage record ``{"seq", "user", "up", "down", "t0", "t1"}`` (node clock, unix ms), and
* a commit ``{"commit": last_seq, "next": next_seq, "conns": {...}, "gone": [...]}`` that
  ends every append. It makes the records before it visible and carries the per-connection
  byte offsets the accountant has counted, so records and offsets are durable together
  (one write, one fsync): a crash can never leave records without their offsets, which is
  what would count bytes twice after a restart.

Records after the last commit (a torn or unfinished append) are never shown to readers
and are cut off on recovery, so their sequence numbers are reused safely. Acknowledged
records are dropped by compaction: the survivors plus one full commit go to a temp file
that replaces the journal by an atomic rename. Stdlib only: this runs on the node, and the
desktop imports the same schema (`vpanel_core.usage.schema`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JOURNAL_NAME = "usage.journal"
ACK_NAME = "usage.ack"

# Per-connection offsets: connection id -> [user, uplink counted, downlink counted, closed].
ConnState = dict[str, list[Any]]


@dataclass(frozen=True, slots=True)
class UsageLine:
    """One journal record: bytes one user moved through this node in [t0, t1] (unix ms)."""

    seq: int
    user: str
    up: int
    down: int
    t0: int
    t1: int

    def to_json(self) -> str:
        return json.dumps(
            {
                "seq": self.seq,
                "user": self.user,
                "up": self.up,
                "down": self.down,
                "t0": self.t0,
                "t1": self.t1,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> UsageLine:
        line = cls(
            int(obj["seq"]),
            str(obj["user"]),
            int(obj["up"]),
            int(obj["down"]),
            int(obj["t0"]),
            int(obj["t1"]),
        )
        if line.up < 0 or line.down < 0 or line.seq < 1:
            raise ValueError("negative bytes or sequence")
        return line


@dataclass(slots=True)
class ScanResult:
    """What a pass over the journal found; `torn`/`corrupt` count lines skipped."""

    records: list[UsageLine] = field(default_factory=list)
    conns: ConnState = field(default_factory=dict)
    next_seq: int = 1
    committed_bytes: int = 0  # file offset just after the last commit line
    torn: int = 0
    corrupt: int = 0
    more: bool = False  # stopped at `limit`: more committed records follow


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write-to-temp, fsync, rename, fsync dir: readers see the old or the new file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _commit_obj(line: dict[str, Any], result: ScanResult) -> None:
    if line.get("full"):
        result.conns = {}
    for conn_id, value in line.get("conns", {}).items():
        result.conns[conn_id] = list(value)
    for conn_id in line.get("gone", []):
        result.conns.pop(conn_id, None)
    result.next_seq = max(result.next_seq, int(line["next"]))


def scan(data: bytes, after: int = 0, limit: int | None = None) -> ScanResult:
    """Committed records with seq > `after` (at most `limit`), plus the folded offsets."""
    result = ScanResult()
    pending: list[UsageLine] = []
    pos = 0
    size = len(data)
    while pos < size:
        end = data.find(b"\n", pos)
        if end < 0:
            result.torn += 1  # the last line never got its newline: a torn write
            break
        raw = data[pos:end]
        pos = end + 1
        try:
            obj = json.loads(raw)
            if "commit" in obj:
                _commit_obj(obj, result)
                result.committed_bytes = pos
                room = None if limit is None else limit - len(result.records)
                result.records.extend(pending if room is None else pending[: max(room, 0)])
                if room is not None and len(pending) >= room:
                    result.more = len(pending) > room or _has_records_after(data, pos)
                    pending = []
                    break
                pending = []
            else:
                record = UsageLine.from_obj(obj)
                if record.seq > after:
                    pending.append(record)
        except (ValueError, KeyError, TypeError):
            result.corrupt += 1
    return result


def _has_records_after(data: bytes, pos: int) -> bool:
    return b'"seq"' in data[pos:]


class Journal:
    """The writer side, owned by the accountant (a single process per node)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / JOURNAL_NAME
        self.next_seq = 1
        self.conns: ConnState = {}
        self.compacted_through = 0
        self.recovery: ScanResult = ScanResult()

    def open(self) -> Journal:
        """Recover: fold commits, cut an unfinished tail, remember where seq goes on."""
        self.directory.mkdir(parents=True, exist_ok=True)
        data = self.path.read_bytes() if self.path.exists() else b""
        result = scan(data)
        if result.committed_bytes < len(data):
            with open(self.path, "r+b") as handle:
                handle.truncate(result.committed_bytes)
                os.fsync(handle.fileno())
        self.recovery = result
        self.next_seq = result.next_seq
        self.conns = result.conns
        return self

    def append(
        self, usage: list[tuple[str, int, int, int, int]], changed: ConnState, gone: list[str]
    ) -> list[UsageLine]:
        """Journal (user, up, down, t0, t1) rows and the offsets that produced them, durably."""
        lines = []
        for user, up, down, t0, t1 in usage:
            lines.append(UsageLine(self.next_seq, user, up, down, t0, t1))
            self.next_seq += 1
        commit = {
            "commit": self.next_seq - 1,
            "next": self.next_seq,
            "conns": changed,
            "gone": gone,
        }
        payload = "".join(f"{line.to_json()}\n" for line in lines)
        payload += json.dumps(commit, separators=(",", ":")) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, payload.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        for conn_id, value in changed.items():
            self.conns[conn_id] = list(value)
        for conn_id in gone:
            self.conns.pop(conn_id, None)
        return lines

    def compact(self, acked: int) -> int:
        """Drop records with seq <= `acked`; returns how many records remain."""
        data = self.path.read_bytes() if self.path.exists() else b""
        keep = scan(data, after=acked).records
        full = {
            "commit": self.next_seq - 1,
            "next": self.next_seq,
            "conns": self.conns,
            "gone": [],
            "full": True,
        }
        payload = "".join(f"{line.to_json()}\n" for line in keep)
        payload += json.dumps(full, separators=(",", ":")) + "\n"
        atomic_write(self.path, payload.encode())
        self.compacted_through = acked
        return len(keep)


def read_ack(directory: Path) -> int:
    try:
        return int((directory / ACK_NAME).read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def write_ack(directory: Path, seq: int) -> int:
    """Record that the desktop applied everything up to `seq` (never moves backwards)."""
    acked = max(read_ack(directory), seq)
    atomic_write(directory / ACK_NAME, f"{acked}\n".encode())
    return acked


def read_page(directory: Path, after: int, limit: int) -> str:
    """The `read` command's output: a header line (node clock, counts), then records."""
    path = directory / JOURNAL_NAME
    data = path.read_bytes() if path.exists() else b""
    result = scan(data, after=after, limit=limit)
    header = {
        "node_time": int(time.time() * 1000),
        "acked": read_ack(directory),
        "torn": result.torn,
        "corrupt": result.corrupt,
        "more": result.more,
        "count": len(result.records),
    }
    lines = [json.dumps(header, separators=(",", ":"))]
    lines.extend(record.to_json() for record in result.records)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python3 -m vpanel_node.journal read DIR AFTER LIMIT` | `ack DIR SEQ` (run over SSH)."""

    args = sys.argv[1:] if argv is None else argv
    if len(args) == 4 and args[0] == "read":
        sys.stdout.write(read_page(Path(args[1]), int(args[2]), int(args[3])))
        return 0
    if len(args) == 3 and args[0] == "ack":
        sys.stdout.write(f"{write_ack(Path(args[1]), int(args[2]))}\n")
        return 0
    sys.stderr.write("usage: journal read DIR AFTER LIMIT | journal ack DIR SEQ\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
