"""An independent observer of the real sing-box: final totals per connection, as reported."""

from __future__ import annotations

import threading
import time

from vpanel_node.api_client import ApiClient, ApiEndpoint, ApiError, ConnectionStream
from vpanel_node.proto.daemon import ConnectionEvent, EventType


class Reference:
    """Keeps, per connection id, the highest totals sing-box reported and whether it closed.
    Deliberately naive (no offsets, no journal): the accountant must agree with it."""

    def __init__(self, endpoint: ApiEndpoint) -> None:
        self.client = ApiClient(endpoint)
        self.totals: dict[str, tuple[str, int, int]] = {}
        self.closed: set[str] = set()
        self.timeline: list[tuple[float, str, int]] = []  # (time, user, cumulative bytes)
        self.subscriptions = 0  # snapshots received: one per (re)subscription
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._stream: ConnectionStream | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._stream = self.client.subscribe_connections(0.1)
                for batch in self._stream:
                    with self.lock:
                        for event in batch.events:
                            self._apply(event)
                        self.subscriptions += batch.reset
            except ApiError:
                time.sleep(0.05)

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

    def stop(self) -> None:
        self._stop.set()
        if self._stream is not None:
            self._stream.close()
        self._thread.join(timeout=5)
