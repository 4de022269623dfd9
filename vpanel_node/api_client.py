"""A stdlib-only client for the local sing-box `api` service (gRPC-Web over HTTP/1.1).

Why gRPC-Web and not grpcio/h2: the node has python3's stdlib and sshd, nothing else.
sing-box's api service answers gRPC-Web on the same port as native gRPC (h2c), and
gRPC-Web is plain HTTP/1.1 (`application/grpc-web+proto`, chunked, 5-byte frame
prefixes, a trailer frame with flag 0x80), so `http.client` plus the hand-written codec
in `vpanel_node.proto` is all it takes: no upload of third-party wheels, no C extension.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from vpanel_node.proto.daemon import (
    SERVICE,
    ConnectionEvents,
    close_connection_request,
    decode_started_at,
    subscribe_connections_request,
)

TRAILER_FLAG = 0x80
UNARY_TIMEOUT = 10.0


class ApiError(RuntimeError):
    """sing-box refused the call (bad secret, API not configured) or the link broke."""


@dataclass(frozen=True, slots=True)
class ApiEndpoint:
    host: str
    port: int
    secret: str

    def headers(self) -> dict[str, str]:
        headers = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1"}
        if self.secret:
            headers["authorization"] = f"Bearer {self.secret}"
        return headers


def _frame(message: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(message)) + message


def _parse_trailer(payload: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in payload.decode(errors="replace").split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    return fields


def _check_status(fields: dict[str, str], method: str) -> None:
    status = fields.get("grpc-status", "0")
    if status != "0":
        raise ApiError(f"{method}: grpc-status {status} {fields.get('grpc-message', '')}".strip())


class _Call:
    """One HTTP/1.1 request carrying one gRPC-Web call; yields response messages."""

    def __init__(self, endpoint: ApiEndpoint, method: str, request: bytes, timeout: float | None):
        self.method = method
        self._conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout)
        try:
            self._conn.request("POST", f"/{SERVICE}/{method}", _frame(request), endpoint.headers())
            self._response = self._conn.getresponse()
        except OSError as exc:
            self._conn.close()
            raise ApiError(f"{method}: {exc}") from exc
        if self._response.status != 200:
            self._conn.close()
            raise ApiError(f"{method}: HTTP {self._response.status}")
        header_fields = {k.lower(): v for k, v in self._response.getheaders()}
        if "grpc-status" in header_fields:  # trailers-only response: an immediate error
            self._conn.close()
            _check_status(header_fields, method)

    def messages(self) -> Iterator[bytes]:
        try:
            while True:
                head = self._response.read(5)
                if len(head) < 5:
                    raise ApiError(f"{self.method}: stream ended without trailers")
                flag, size = head[0], struct.unpack(">I", head[1:])[0]
                payload = self._response.read(size)
                if len(payload) < size:
                    raise ApiError(f"{self.method}: truncated message")
                if flag & TRAILER_FLAG:
                    _check_status(_parse_trailer(payload), self.method)
                    return
                yield payload
        except (OSError, ValueError, AttributeError, http.client.HTTPException) as exc:
            # A close() from another thread surfaces as any of these inside http.client.
            raise ApiError(f"{self.method}: {exc or type(exc).__name__}") from exc
        finally:
            self.close()

    def close(self) -> None:
        sock = self._conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._conn.close()


class ConnectionStream:
    """`SubscribeConnections`: the first batch is a reset snapshot, then live events.

    `close()` may be called from another thread to stop a blocked reader.
    """

    def __init__(self, endpoint: ApiEndpoint, interval: float) -> None:
        request = subscribe_connections_request(int(interval * 1e9))
        self._call = _Call(endpoint, "SubscribeConnections", request, timeout=None)

    def __iter__(self) -> Iterator[ConnectionEvents]:
        for payload in self._call.messages():
            yield ConnectionEvents.decode(payload)

    def close(self) -> None:
        self._call.close()


class ApiClient:
    def __init__(self, endpoint: ApiEndpoint) -> None:
        self.endpoint = endpoint

    def subscribe_connections(self, interval: float = 1.0) -> ConnectionStream:
        return ConnectionStream(self.endpoint, interval)

    def _unary(self, method: str, request: bytes) -> bytes:
        replies = list(_Call(self.endpoint, method, request, UNARY_TIMEOUT).messages())
        return replies[0] if replies else b""

    def close_connection(self, connection_id: str) -> None:
        self._unary("CloseConnection", close_connection_request(connection_id))

    def started_at(self) -> int:
        """Unix ms the running instance started; changes when sing-box restarts or reloads."""
        return decode_started_at(self._unary("GetStartedAt", b""))
