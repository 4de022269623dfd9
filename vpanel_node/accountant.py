"""Turn sing-box connection events into per-user usage, exactly once, and journal it.

sing-box reports per connection: totals in NEW/CLOSED events and in the snapshot that
opens every subscription (`reset`), deltas in UPDATE events. The tally keeps, per
connection, the totals already counted; every event moves them forward and the
difference is the user's new usage. That makes every case below count each byte once:

* a connection open across flushes: only the growth since the last count is added;
* a stream reset or helper restart: the offsets come back from the journal, the snapshot
  repeats each live connection's totals, and only totals above the offsets count;
* closed connections listed again in a later snapshot: remembered (bounded, newest
  first), so only growth since their CLOSED counts; unknown closed ones (closed while
  the helper was away) count in full;
* a sing-box restart: connection ids are new; old ids vanish from the snapshot and their
  offsets are dropped.

What sing-box never reports, so nothing can bill it (measured with sing-box 1.14):

* a live connection's last bytes when sing-box stops or reloads: the stream just ends, no
  CLOSED follows. The supervisor calls `refresh` first (a fresh snapshot of every live
  connection's totals), so only what moves between that snapshot and sing-box closing
  the connection is lost: on SIGHUP sing-box re-checks the config before it closes
  anything, ~5-15 ms of each connection's traffic here (a 1 MB/s download: 6-14 KB per
  reload; 1-3 MB over 5 connections without the refresh, up to one `interval` each). If
  the snapshot does not come within REFRESH_TIMEOUT, the reload goes ahead with the old
  bound. A crash (no refresh possible) keeps it too;
* bytes counted after a connection's CLOSED was sent: each subscription reads the
  counters when it builds its own CLOSED event and they can still grow a little (a few
  KB on ~0.2 % of connections); a later snapshot still listing the connection tops up;
* connections that closed while the helper was not subscribed and already left sing-box's
  closed list (at most 1000 entries, emptied at every Go GC). Hence the fast resubscribe:
  the gap after a sing-box restart is ~0.1 s.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vpanel_node.api_client import ApiClient, ApiEndpoint, ApiError, ConnectionStream
from vpanel_node.journal import ConnState, Journal, UsageLine, read_ack
from vpanel_node.proto.daemon import Connection, ConnectionEvents, EventType

MAX_CLOSED_REMEMBERED = 4096  # sing-box lists at most 1000 closed connections
RETRY_SECONDS = 0.1  # a refused connect to loopback costs microseconds
REFRESH_TIMEOUT = 1.0  # the longest a reload or stop waits for the last reading


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class ConnCount:
    user: str
    up: int
    down: int
    closed: bool = False

    def as_state(self) -> list[object]:
        return [self.user, self.up, self.down, self.closed]


class Tally:
    """Pure bookkeeping: counted offsets per connection, uncommitted usage per user."""

    def __init__(self, state: ConnState | None = None) -> None:
        self.conns: OrderedDict[str, ConnCount] = OrderedDict()
        for conn_id, (user, up, down, closed) in (state or {}).items():
            self.conns[conn_id] = ConnCount(str(user), int(up), int(down), bool(closed))
        self.pending: dict[str, list[int]] = {}  # user -> [up, down]
        self.dirty: set[str] = set()
        self.gone: set[str] = set()
        self.window_start: int | None = None
        self.unattributed = 0  # bytes of UPDATEs for connections never announced

    def _add(self, user: str, up: int, down: int, at: int) -> None:
        if up <= 0 and down <= 0:
            return
        slot = self.pending.setdefault(user, [0, 0])
        slot[0] += max(up, 0)
        slot[1] += max(down, 0)
        if self.window_start is None:
            self.window_start = at

    def _totals(self, conn: Connection, closed: bool, at: int) -> None:
        entry = self.conns.get(conn.id)
        if entry is None:
            entry = self.conns[conn.id] = ConnCount(conn.user, 0, 0)
            self.gone.discard(conn.id)
        self._add(entry.user, conn.uplink_total - entry.up, conn.downlink_total - entry.down, at)
        entry.up = max(entry.up, conn.uplink_total)
        entry.down = max(entry.down, conn.downlink_total)
        self._mark(conn.id, entry, closed)

    def _mark(self, conn_id: str, entry: ConnCount, closed: bool) -> None:
        if closed and not entry.closed:
            entry.closed = True
            self.conns.move_to_end(conn_id)
        self.dirty.add(conn_id)

    def apply(self, batch: ConnectionEvents, at: int) -> None:
        if batch.reset:
            listed = {event.id for event in batch.events}
            for conn_id in [c for c in self.conns if c not in listed]:
                del self.conns[conn_id]
                self.dirty.discard(conn_id)
                self.gone.add(conn_id)
        for event in batch.events:
            if event.connection is not None:
                closed = event.type is EventType.CLOSED or event.connection.closed_at > 0
                self._totals(event.connection, closed, at)
            elif event.type is EventType.UPDATE:
                entry = self.conns.get(event.id)
                if entry is None:
                    self.unattributed += event.uplink_delta + event.downlink_delta
                    continue
                self._add(entry.user, event.uplink_delta, event.downlink_delta, at)
                entry.up += max(event.uplink_delta, 0)
                entry.down += max(event.downlink_delta, 0)
                self._mark(event.id, entry, False)
            elif event.type is EventType.CLOSED and event.id in self.conns:
                self._mark(event.id, self.conns[event.id], True)
        self._forget_old_closed()

    def _forget_old_closed(self) -> None:
        closed = [c for c, e in self.conns.items() if e.closed]
        for conn_id in closed[: max(0, len(closed) - MAX_CLOSED_REMEMBERED)]:
            del self.conns[conn_id]
            self.dirty.discard(conn_id)
            self.gone.add(conn_id)

    def take(self, at: int) -> tuple[list[tuple[str, int, int, int, int]], ConnState, list[str]]:
        """Usage rows and offset changes since the last take, for one journal append."""
        start = self.window_start if self.window_start is not None else at
        rows = [(user, up, down, start, at) for user, (up, down) in sorted(self.pending.items())]
        changed = {c: self.conns[c].as_state() for c in sorted(self.dirty) if c in self.conns}
        gone = sorted(self.gone)
        self.pending, self.dirty, self.gone, self.window_start = {}, set(), set(), None
        return rows, changed, gone

    def pending_bytes(self) -> dict[str, int]:
        return {user: up + down for user, (up, down) in self.pending.items()}

    def users_of(self) -> dict[str, list[str]]:
        """Live (not closed) connection ids per user, for the enforcer to close."""
        result: dict[str, list[str]] = {}
        for conn_id, entry in self.conns.items():
            if not entry.closed:
                result.setdefault(entry.user, []).append(conn_id)
        return result


class Accountant:
    """Subscribe, tally, journal every `flush_interval`, compact after the desktop acks."""

    def __init__(
        self,
        client: ApiClient,
        directory: Path,
        *,
        interval: float = 1.0,
        flush_interval: float = 5.0,
        resolve: Callable[[], ApiEndpoint | None] | None = None,
    ) -> None:
        self.client = client
        self.resolve = resolve  # re-read before each subscribe: a push may move the API
        self.journal = Journal(directory).open()
        self.tally = Tally(self.journal.conns)
        self.interval = interval
        self.flush_interval = flush_interval
        self.lock = threading.Lock()
        self.snapshots = threading.Condition(self.lock)  # notified per (re)subscription
        self.listeners: list[Callable[[list[UsageLine]], None]] = []
        self.connected = threading.Event()
        self.subscriptions = 0  # snapshots received: one per (re)subscription
        self.stop_event = threading.Event()
        self._stream: ConnectionStream | None = None
        self._threads: list[threading.Thread] = []

    def flush(self) -> list[UsageLine]:
        with self.lock:
            rows, changed, gone = self.tally.take(now_ms())
            if not rows and not changed and not gone:
                return []
            lines = self.journal.append(rows, changed, gone)
        for listener in self.listeners:
            listener(lines)
        return lines

    def compact_if_acked(self) -> None:
        acked = read_ack(self.journal.directory)
        if acked > self.journal.compacted_through:
            with self.lock:
                self.journal.compact(acked)

    def refresh(self, timeout: float = REFRESH_TIMEOUT) -> bool:
        """Count every live connection's bytes up to now; call it right before sing-box
        reloads or stops. Those end the stream without CLOSED events, so a connection's
        bytes since its last UPDATE would go unbilled (up to one `interval` of traffic).
        A new subscription opens with a snapshot of current totals: closing the stream makes
        the reader resubscribe at once, and the tally takes the growth above its offsets.
        Bounded by `timeout`, so it never holds a reload (an enforcement cut) back for long;
        False if no snapshot came in time (then the old bound applies)."""
        with self.lock:
            stream, seen = self._stream, self.subscriptions
        if stream is None or not self.connected.is_set():
            return False
        stream.close()
        with self.snapshots:
            return self.snapshots.wait_for(lambda: self.subscriptions > seen, timeout)

    def _read_stream(self) -> None:
        while not self.stop_event.is_set():
            endpoint = self.resolve() if self.resolve else self.client.endpoint
            received = False
            try:
                if endpoint is None:
                    raise ApiError("no api service in config.json yet")
                self.client.endpoint = endpoint
                stream = self.client.subscribe_connections(self.interval)
                with self.lock:
                    self._stream = stream
                for batch in stream:
                    with self.lock:
                        self.tally.apply(batch, now_ms())
                        if batch.reset:
                            self.subscriptions += 1
                            self.snapshots.notify_all()
                    received = True
                    self.connected.set()
            except ApiError:
                pass
            self.connected.clear()
            # Retry fast, no growing backoff: connections that open and close while we are
            # not subscribed are only recoverable from sing-box's short closed list. A stream
            # that was up (ended by `refresh` or a reload) is retried without any pause.
            if not received:
                self.stop_event.wait(RETRY_SECONDS)

    def _flush_loop(self) -> None:
        while not self.stop_event.wait(self.flush_interval):
            self.flush()
            self.compact_if_acked()

    def start(self) -> Accountant:
        for target in (self._read_stream, self._flush_loop):
            thread = threading.Thread(
                target=target, daemon=True, name=f"accountant{target.__name__}"
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop reading and flush what was counted, so nothing waits for the next run."""
        self.stop_event.set()
        if self._stream is not None:
            self._stream.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self.flush()
