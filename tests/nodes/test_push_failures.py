"""Push failures leave every node running a good config, and say where it went wrong."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.fixtures.clients import ORIGIN_BODY, http_origin
from tests.fixtures.ports import free_ports
from tests.fixtures.sshd import Fleet, pid_alive
from tests.nodes.clients import client_for, fetch
from vpanel_core.db import transaction
from vpanel_core.models import Inbound, Node
from vpanel_core.nodes.push import Outcome, Stage
from vpanel_core.nodes.status import node_status
from vpanel_core.services.nodes import NewInbound

pytestmark = pytest.mark.e2e


def running_config(fleet: Fleet, node_id) -> str:
    """sha256 of config.json, read straight from the node's directory (no SSH needed)."""
    path = Path(fleet.sshd[node_id].remote_dir) / "config.json"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def serving_node(fleet: Fleet) -> tuple[uuid.UUID, uuid.UUID, str]:
    """A node with one trojan inbound, an entitled user, and a successful first push."""
    node_id = fleet.add_node("edge")
    [port] = free_ports(1)
    fleet.add_inbound(node_id, NewInbound("trojan", "trojan", port, sni="node.test"))
    user_id = fleet.add_user("alice")
    [result] = fleet.push()
    assert result.outcome is Outcome.OK, result
    return node_id, user_id, result.version


def assert_still_serves(fleet: Fleet, node_id, user_id, tmp_path: Path) -> None:
    process, port = client_for(fleet, node_id, user_id, "trojan", tmp_path / "client")
    with http_origin() as origin, process:
        assert fetch(port, origin + "/still-there", retry_for=10) == ORIGIN_BODY


def test_unchanged_config_is_neither_uploaded_nor_reloaded(fleet: Fleet) -> None:
    node_id, _user, version = serving_node(fleet)
    remote = Path(fleet.sshd[node_id].remote_dir)
    pid = int((remote / "run" / "sing-box.pid").read_text())
    mtime = (remote / "config.json").stat().st_mtime_ns

    [result] = fleet.push()

    assert result.outcome is Outcome.UNCHANGED and result.version == version
    assert int((remote / "run" / "sing-box.pid").read_text()) == pid
    assert (remote / "config.json").stat().st_mtime_ns == mtime
    assert list((remote / "incoming").iterdir()) == []


def test_config_rejected_by_sing_box_check_keeps_last_good_running(
    fleet: Fleet, tmp_path: Path
) -> None:
    node_id, user_id, good = serving_node(fleet)
    with transaction(fleet.db.sessions) as session:
        inbound = session.query(Inbound).filter_by(node_id=node_id).one()
        inbound.settings = {**inbound.settings, "certificate_pem": "not a certificate"}
    fleet.add_user("bob")  # a real change, so the push is attempted

    [result] = fleet.push()

    assert result.outcome is Outcome.FAILED and result.stage is Stage.CHECK
    assert result.error_code == "CONFIG_REJECTED"
    assert "certificate" in result.error.lower()
    assert running_config(fleet, node_id) == good
    assert fleet.node(node_id).config_version == good
    assert list((Path(fleet.sshd[node_id].remote_dir) / "incoming").iterdir()) == []
    assert_still_serves(fleet, node_id, user_id, tmp_path)


def test_port_taken_on_node_fails_health_check_and_rolls_back(fleet: Fleet, tmp_path: Path) -> None:
    node_id, user_id, good = serving_node(fleet)
    [busy] = free_ports(1)
    fleet.add_inbound(node_id, NewInbound("anytls", "anytls", busy, sni="node.test"))
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", busy))
        squatter.listen()

        [result] = fleet.push()

        assert result.outcome is Outcome.FAILED and result.stage is Stage.HEALTH
        assert result.error_code == "HEALTH_CHECK_FAILED"
        assert result.rolled_back
        assert "address already in use" in result.error
        assert running_config(fleet, node_id) == good
        status = node_status(fleet.node(node_id))
        assert status.healthy and status.running_config_version == good
        assert fleet.node(node_id).config_version == good
        assert_still_serves(fleet, node_id, user_id, tmp_path)


def test_connection_dropped_mid_push_fails_and_node_keeps_last_good(
    fleet: Fleet, tmp_path: Path
) -> None:
    node_id, user_id, good = serving_node(fleet)
    server = fleet.sshd[node_id]
    sing_box = int((Path(server.remote_dir) / "run" / "sing-box.pid").read_text())
    fleet.add_user("bob")

    def drop_during_upload(_node: str, stage: Stage) -> None:
        if stage is Stage.UPLOAD and server.process is not None:
            server.drop()

    [result] = fleet.push(on_progress=drop_during_upload, retries=1)

    assert result.outcome is Outcome.FAILED
    assert result.error_code == "NODE_UNREACHABLE"
    assert result.attempts == 2
    assert pid_alive(sing_box)
    assert running_config(fleet, node_id) == good
    assert_still_serves(fleet, node_id, user_id, tmp_path)

    server.start()  # sshd back: the next push goes through and tidies up
    [result] = fleet.push()
    assert result.outcome is Outcome.OK
    assert list((Path(server.remote_dir) / "incoming").iterdir()) == []


def test_changed_host_key_refuses_to_connect_and_pushes_nothing(fleet: Fleet) -> None:
    node_id, _user, good = serving_node(fleet)
    pinned = fleet.node(node_id).host_key
    fleet.sshd[node_id].change_host_key()
    fleet.add_user("bob")

    [result] = fleet.push()

    assert result.outcome is Outcome.FAILED and result.stage is Stage.CONNECT
    assert result.error_code == "HOST_KEY_MISMATCH"
    assert "SHA256:" in result.error and "changed" in result.error
    assert running_config(fleet, node_id) == good
    assert list((Path(fleet.sshd[node_id].remote_dir) / "incoming").iterdir()) == []
    assert fleet.node(node_id).host_key == pinned


def test_one_unresponsive_node_does_not_hold_back_the_others(fleet: Fleet) -> None:
    healthy = [fleet.add_node(f"edge-{i}") for i in range(2)]
    silent = fleet.add_node("silent", bootstrap=False)
    for node_id in [*healthy, silent]:
        [port] = free_ports(1)
        fleet.add_inbound(node_id, NewInbound("trojan", "trojan", port, sni="node.test"))
    fleet.add_user("alice")
    # The silent node's "sshd" accepts TCP but never says a word (a hung host).
    fleet.sshd[silent].drop()
    with socket.socket() as black_hole:
        black_hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        black_hole.bind(("127.0.0.1", fleet.sshd[silent].port))
        black_hole.listen()
        started = time.monotonic()

        results = {r.node_name: r for r in fleet.push(connect_timeout=1.0, retries=1)}

        elapsed = time.monotonic() - started
    assert results["silent"].outcome is Outcome.FAILED
    assert results["silent"].error_code == "NODE_UNREACHABLE"
    assert all(results[f"edge-{i}"].outcome is Outcome.OK for i in range(2))
    # Bounded by its timeouts (2 attempts x 1 s + 0.5 s backoff), in parallel with the rest.
    assert results["silent"].seconds < 6
    assert elapsed < max(r.seconds for r in results.values()) + 2
    with transaction(fleet.db.sessions) as session:
        silent_node = session.get(Node, silent)
        assert silent_node is not None
        assert '"outcome": "failed"' in silent_node.last_push_result


@pytest.fixture
def full_incoming_dir(fleet: Fleet):
    """Mount a tiny tmpfs over a node's upload directory and fill it: a full disk."""
    mounted: list[Path] = []

    def fill(node_id) -> Path:
        incoming = Path(fleet.sshd[node_id].remote_dir) / "incoming"
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(incoming)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(incoming)
        fd = os.open(incoming / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)
        return incoming

    yield fill
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_disk_full_on_node_fails_the_upload_and_keeps_the_last_good_config(
    fleet: Fleet, full_incoming_dir, tmp_path: Path
) -> None:
    node_id, user_id, good = serving_node(fleet)
    incoming = full_incoming_dir(node_id)
    fleet.add_user("bob")

    [result] = fleet.push(retries=0)

    assert result.outcome is Outcome.FAILED
    assert result.stage is Stage.UPLOAD
    assert result.error_code == "UPLOAD_INCOMPLETE"
    assert "disk full" in result.error
    assert [p.name for p in incoming.iterdir()] == ["filler"]  # no half file left behind
    assert running_config(fleet, node_id) == good
    assert fleet.node(node_id).config_version == good
    assert_still_serves(fleet, node_id, user_id, tmp_path)

    subprocess.run(["umount", str(incoming)], check=True)  # space again: the push goes through
    [result] = fleet.push()
    assert result.outcome is Outcome.OK
