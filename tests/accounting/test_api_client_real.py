"""The stdlib gRPC-Web client against the real sing-box 1.14 `api` service."""

from __future__ import annotations

import http.client

import pytest

from tests.fixtures.singbox_api import SingBoxLab
from vpanel_node.api_client import ApiClient, ApiEndpoint, ApiError
from vpanel_node.proto.daemon import EventType

pytestmark = pytest.mark.e2e
MIB = 1 << 20


def test_closed_event_reports_user_inbound_and_exact_totals(singbox_lab: SingBoxLab) -> None:
    user = singbox_lab.users[0]
    stream = ApiClient(singbox_lab.endpoint).subscribe_connections(0.2)
    try:
        batches = iter(stream)
        first = next(batches)
        assert first.reset
        received = singbox_lab.download("trojan", user, MIB)
        closed = None
        while closed is None:
            for event in next(batches).events:
                if event.type is EventType.CLOSED and event.connection is not None:
                    closed = event.connection
    finally:
        stream.close()
    assert received == MIB
    assert closed.user == user
    assert closed.inbound == "trojan-in"
    # The body plus HTTP headers: a little more than the body, never less.
    assert MIB < closed.downlink_total < MIB * 1.01
    assert 0 < closed.uplink_total < 1024


def test_wrong_secret_is_refused_with_grpc_status(singbox_lab: SingBoxLab) -> None:
    endpoint = singbox_lab.endpoint
    client = ApiClient(ApiEndpoint(endpoint.host, endpoint.port, "wrong"))
    with pytest.raises(ApiError, match="grpc-status 16"):
        client.started_at()


def test_close_connection_ends_a_live_download(singbox_lab: SingBoxLab) -> None:
    user = singbox_lab.users[1]
    client = ApiClient(singbox_lab.endpoint)
    stream = client.subscribe_connections(0.2)
    url = f"{singbox_lab.origin_url}/stream/1000000"
    response = singbox_lab.opener("vless", user).open(url, timeout=10)
    try:
        conn_id = None
        for batch in stream:
            for event in batch.events:
                if event.connection is not None and event.connection.user == user:
                    conn_id = event.id
            if conn_id:
                break
        assert conn_id is not None
        client.close_connection(conn_id)
        ended_by = _read_until_cut(response)
    finally:
        stream.close()
        response.close()
    # The origin streams forever: only the close can end it (a timeout would mean it did not).
    assert not isinstance(ended_by, TimeoutError)


def _read_until_cut(response: object) -> BaseException | None:
    try:
        while response.read(65536):  # type: ignore[attr-defined]
            pass
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return exc
    return None
