"""An independent fold of what sing-box reported: final totals per connection, per user.

What counts as "reported" depends on the subscriber. sing-box builds each event per
subscription and reads a connection's byte counters when *that* subscription's goroutine
handles the CLOSED event, not when the connection closed; the counters can still grow
after the close is announced (observed: 2-21 KB on ~0.2 % of connections). Two
subscribers can therefore be told different final totals for the same connection, and
neither hears about the late bytes again unless a later snapshot lists the closed
connection (sing-box clears its closed list at every Go GC, so often it does not). A
second, independent subscription is thus no exact yardstick for the accountant: it
disagreed by 2-21 KB in ~8 % of runs, with or without a sing-box restart.

`Reference.tap` gives the exact one: it sees the very batches the accountant's own stream
delivered (recorded as they are decoded, before the accountant touches them) and folds
them naively — no offsets, no journal — so "billed = reported" is a statement about the
accountant, journal and collection, not about which subscriber read the counters first.
`Reference.subscribe` is its own subscriber, for when only timing matters.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from vpanel_node.api_client import ApiClient, ApiEndpoint, ApiError, ConnectionStream
from vpanel_node.proto.daemon import ConnectionEvent, ConnectionEvents, EventType

REPORT_INTERVAL = 0.1  # s between the reports a `subscribe`d reference asks sing-box for


class Reference:
    """Keeps, per connection id, the highest totals sing-box reported and whether it closed.
    Deliberately naive (no offsets, no journal): the accountant must agree with it."""

    def __init__(self) -> None:
        self.totals: dict[str, tuple[str, int, int]] = {}
        self.closed: set[str] = set()
        self.timeline: list[tuple[float, str, int]] = []  # (time, user, cumulative bytes)
        self.subscriptions = 0  # snapshots received: one per (re)subscription
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._stream: ConnectionStream | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def subscribe(cls, endpoint: ApiEndpoint) -> Reference:
        """An observer with a subscription of its own."""
        reference = cls()
        reference._thread = threading.Thread(
            target=reference._run, args=(ApiClient(endpoint),), daemon=True
        )
        reference._thread.start()
        return reference

    def tap(self, endpoint: ApiEndpoint) -> ApiClient:
        """A client for the accountant whose streams also report every batch here."""
        return _TappedClient(endpoint, self)

    def _run(self, client: ApiClient) -> None:
        while not self._stop.is_set():
            try:
                self._stream = client.subscribe_connections(REPORT_INTERVAL)
                for batch in self._stream:
                    self.record(batch)
            except ApiError:
                time.sleep(0.05)

    def record(self, batch: ConnectionEvents) -> None:
        with self.lock:
            for event in batch.events:
                self._apply(event)
            self.subscriptions += batch.reset

    def _apply(self, event: ConnectionEvent) -> None:
        conn = event.connection
        conn_id = event.id
        user, up, down = self.totals.get(conn_id, ("", 0, 0))
        if conn is not None:
            user, up, down = conn.user, max(up, conn.uplink_total), max(down, conn.downlink_total)
        elif (
            event.type is EventType.UPDATE and conn_id in self.totals and conn_id not in self.closed
        ):
            up += event.uplink_delta
            down += event.downlink_delta
        if user:
            self.totals[conn_id] = (user, up, down)
            self.timeline.append((time.monotonic(), user, self.user_total(user)))
        if event.type is EventType.CLOSED or (conn is not None and conn.closed_at):
            self.closed.add(conn_id)

    def user_total(self, user: str) -> int:
        return sum(up + down for u, up, down in self.totals.values() if u == user)

    def per_user(self) -> dict[str, int]:
        with self.lock:
            out: dict[str, int] = {}
            for user, up, down in self.totals.values():
                out[user] = out.get(user, 0) + up + down
            return out

    def all_closed(self) -> bool:
        with self.lock:
            return set(self.totals) <= self.closed

    def crossed_at(self, user: str, threshold: int) -> float | None:
        with self.lock:
            return next(
                (t for t, u, total in self.timeline if u == user and total >= threshold), None
            )

    def last_below(self, user: str, threshold: int) -> float | None:
        """When sing-box last reported the user under `threshold`: it crossed after that."""
        with self.lock:
            return max(
                (t for t, u, total in self.timeline if u == user and total < threshold),
                default=None,
            )

    def peak_rate(self, user: str, window: float = 1.0) -> float:
        """The most bytes sing-box reported for the user within any `window` s, per second."""
        with self.lock:
            seen = [(t, total) for t, u, total in self.timeline if u == user]
        peak, j = 0, 0
        for t, total in seen:  # for each report, the earliest one within `window` before it
            while seen[j][0] < t - window:
                j += 1
            peak = max(peak, total - seen[j][1])
        return peak / window

    def stop(self) -> None:
        self._stop.set()
        if self._stream is not None:
            self._stream.close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _TappedStream(ConnectionStream):
    def __init__(self, endpoint: ApiEndpoint, interval: float, reference: Reference) -> None:
        super().__init__(endpoint, interval)
        self.reference = reference

    def __iter__(self) -> Iterator[ConnectionEvents]:
        for batch in super().__iter__():
            self.reference.record(batch)
            yield batch


class _TappedClient(ApiClient):
    def __init__(self, endpoint: ApiEndpoint, reference: Reference) -> None:
        super().__init__(endpoint)
        self.reference = reference

    def subscribe_connections(self, interval: float = 1.0) -> ConnectionStream:
        return _TappedStream(self.endpoint, interval, self.reference)
