"""Bootstrap over real SSH and the status the desktop shows for a node."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.fixtures.clients import ORIGIN_BODY, http_origin
from tests.fixtures.ports import free_ports
from tests.fixtures.sshd import Fleet, SshdNode
from tests.nodes.clients import client_for
from vpanel_core.nodes.bootstrap import BootstrapOptions, bootstrap
from vpanel_core.nodes.ssh import SshTarget, fetch_host_key
from vpanel_core.nodes.status import node_status
from vpanel_core.services.nodes import NewInbound

pytestmark = pytest.mark.e2e


def test_bootstrap_uploads_sing_box_once_and_can_run_again(sshd_node: SshdNode) -> None:
    pinned = fetch_host_key("127.0.0.1", sshd_node.port).line
    target = SshTarget("127.0.0.1", sshd_node.port, sshd_node.user, sshd_node.client_key, pinned)
    steps: list[str] = []

    first = bootstrap(target, sshd_node.remote_dir, on_progress=steps.append)
    supervisor = sshd_node.node_pids()
    again = bootstrap(target, sshd_node.remote_dir, BootstrapOptions())

    assert steps == ["platform", "sing-box", "helper", "supervisor"]
    assert (first.os, first.arch, first.sing_box_version) == ("Linux", "amd64", "1.14.4")
    assert first.uploaded_sing_box and not again.uploaded_sing_box
    assert again.sing_box_path == f"{sshd_node.remote_dir}/bin/sing-box"
    assert not first.systemd  # not the production directory
    assert sshd_node.node_pids() and sshd_node.node_pids() != supervisor


@contextmanager
def open_tunnel(mixed: int, origin: str) -> Iterator[socket.socket]:
    """An HTTP CONNECT tunnel through the client: one proxied connection that stays open."""
    host, port = origin.removeprefix("http://").split(":")
    deadline = time.monotonic() + 10
    while True:
        sock = socket.create_connection(("127.0.0.1", mixed), timeout=5)
        sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        if b" 200 " in sock.recv(4096):
            break
        sock.close()
        if time.monotonic() > deadline:
            raise TimeoutError("the client never opened a tunnel")
        time.sleep(0.1)
    with sock:
        yield sock


def test_status_shows_version_uptime_memory_and_open_connections(fleet: Fleet, tmp_path) -> None:
    node_id = fleet.add_node("edge")
    [port] = free_ports(1)
    fleet.add_inbound(node_id, NewInbound("trojan", "trojan", port, sni="node.test"))
    user_id = fleet.add_user("alice")
    [pushed] = fleet.push()
    process, mixed = client_for(fleet, node_id, user_id, "trojan", tmp_path / "client")
    with http_origin() as origin, process, open_tunnel(mixed, origin) as tunnel:
        tunnel.sendall(b"GET / HTTP/1.1\r\nHost: origin\r\n\r\n")
        reply = b""
        while not reply.endswith(ORIGIN_BODY) and (chunk := tunnel.recv(4096)):
            reply += chunk
        assert reply.endswith(ORIGIN_BODY)

        status = node_status(fleet.node(node_id))

    assert status.reachable and status.healthy and status.running
    assert status.sing_box_version == "1.14.4"
    assert 0 < status.uptime_s < 60
    assert status.rss_bytes > 1 << 20 and status.mem_total_bytes > status.rss_bytes
    assert status.connections_source == "api" and status.connections >= 1
    assert status.running_config_version == pushed.version == status.config_version
    assert status.last_push_result is not None and status.last_push_result["outcome"] == "ok"


def test_status_of_an_unreachable_node_says_why(fleet: Fleet) -> None:
    node_id = fleet.add_node("gone", bootstrap=False)
    fleet.sshd[node_id].drop()
    status = node_status(fleet.node(node_id), timeout=1)
    assert not status.reachable and status.error_code == "NODE_UNREACHABLE"
