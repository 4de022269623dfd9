"""The `daemon.StartedService` messages used for accounting, with their real field numbers.

Only the fields the helper reads are decoded; everything else is skipped, so newer
sing-box versions that add fields keep working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from vpanel_node.proto.wire import field_bytes, field_varint, iter_fields, to_int64

SERVICE = "daemon.StartedService"


class EventType(IntEnum):
    NEW = 0
    UPDATE = 1
    CLOSED = 2


@dataclass(slots=True)
class Connection:
    """daemon.Connection: id=1 inbound=2 inboundType=3 user=10 createdAt=12 closedAt=13
    uplinkTotal=16 downlinkTotal=17 (totals are the connection's bytes so far)."""

    id: str = ""
    inbound: str = ""
    inbound_type: str = ""
    user: str = ""
    created_at: int = 0
    closed_at: int = 0
    uplink_total: int = 0
    downlink_total: int = 0

    @classmethod
    def decode(cls, data: bytes) -> Connection:
        conn = cls()
        for number, _wire, value in iter_fields(data):
            if isinstance(value, bytes):
                if number == 1:
                    conn.id = value.decode()
                elif number == 2:
                    conn.inbound = value.decode()
                elif number == 3:
                    conn.inbound_type = value.decode()
                elif number == 10:
                    conn.user = value.decode()
            elif number == 12:
                conn.created_at = to_int64(value)
            elif number == 13:
                conn.closed_at = to_int64(value)
            elif number == 16:
                conn.uplink_total = to_int64(value)
            elif number == 17:
                conn.downlink_total = to_int64(value)
        return conn


@dataclass(slots=True)
class ConnectionEvent:
    """daemon.ConnectionEvent: type=1 id=2 connection=3 uplinkDelta=4 downlinkDelta=5
    closedAt=6."""

    type: EventType = EventType.NEW
    id: str = ""
    connection: Connection | None = None
    uplink_delta: int = 0
    downlink_delta: int = 0
    closed_at: int = 0

    @classmethod
    def decode(cls, data: bytes) -> ConnectionEvent:
        event = cls()
        for number, _wire, value in iter_fields(data):
            if isinstance(value, bytes):
                if number == 2:
                    event.id = value.decode()
                elif number == 3:
                    event.connection = Connection.decode(value)
            elif number == 1:
                event.type = EventType(value)
            elif number == 4:
                event.uplink_delta = to_int64(value)
            elif number == 5:
                event.downlink_delta = to_int64(value)
            elif number == 6:
                event.closed_at = to_int64(value)
        return event


@dataclass(slots=True)
class ConnectionEvents:
    """daemon.ConnectionEvents: events=1 reset=2 (reset: this batch is the full snapshot)."""

    events: list[ConnectionEvent] = field(default_factory=list)
    reset: bool = False

    @classmethod
    def decode(cls, data: bytes) -> ConnectionEvents:
        batch = cls()
        for number, _wire, value in iter_fields(data):
            if number == 1 and isinstance(value, bytes):
                batch.events.append(ConnectionEvent.decode(value))
            elif number == 2:
                batch.reset = bool(value)
        return batch


def subscribe_connections_request(interval_ns: int) -> bytes:
    """daemon.SubscribeConnectionsRequest: interval=1 (a Go time.Duration, nanoseconds)."""
    return field_varint(1, interval_ns)


def close_connection_request(connection_id: str) -> bytes:
    """daemon.CloseConnectionRequest: id=1."""
    return field_bytes(1, connection_id.encode())


def decode_started_at(data: bytes) -> int:
    """daemon.StartedAt: startedAt=1 (unix milliseconds)."""
    for number, _wire, value in iter_fields(data):
        if number == 1 and isinstance(value, int):
            return to_int64(value)
    return 0
