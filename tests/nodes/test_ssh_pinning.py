"""SSH trust on first use: the fingerprint the operator confirms is the one ssh-keygen
shows, a pinned key is required, and any other key or credential is refused clearly."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures.sshd import SshdNode, keygen
from vpanel_core.nodes.errors import (
    HostKeyMismatch,
    HostKeyNotPinned,
    NodeUnreachable,
    SshAuthFailed,
)
from vpanel_core.nodes.ssh import SshSession, SshTarget, fetch_host_key

pytestmark = pytest.mark.e2e


def target(node: SshdNode, host_key: str, key_ref: str | None = None) -> SshTarget:
    return SshTarget(
        "127.0.0.1", node.port, node.user, key_ref or str(node.client_key_path), host_key
    )


def test_fetched_fingerprint_matches_ssh_keygen(sshd_node: SshdNode) -> None:
    key = fetch_host_key("127.0.0.1", sshd_node.port)
    shown = subprocess.run(
        ["ssh-keygen", "-lf", f"{sshd_node.host_key_path}.pub"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    assert key.fingerprint == shown
    assert key.line == sshd_node.host_key_line()


def test_pinned_key_connects_with_key_material_or_key_path(sshd_node: SshdNode) -> None:
    pinned = fetch_host_key("127.0.0.1", sshd_node.port).line
    for key_ref in (str(sshd_node.client_key_path), sshd_node.client_key):
        with SshSession(target(sshd_node, pinned, key_ref)) as ssh:
            assert ssh.run("echo pinned-ok").stdout.strip() == "pinned-ok"


def test_changed_host_key_is_refused_showing_both_fingerprints(sshd_node: SshdNode) -> None:
    old = fetch_host_key("127.0.0.1", sshd_node.port)
    sshd_node.change_host_key()
    new = fetch_host_key("127.0.0.1", sshd_node.port)

    with pytest.raises(HostKeyMismatch) as caught:
        SshSession(target(sshd_node, old.line))

    assert old.fingerprint in caught.value.message and new.fingerprint in caught.value.message
    assert caught.value.details == {
        "host": f"{sshd_node.user}@127.0.0.1:{sshd_node.port}",
        "expected": old.fingerprint,
        "actual": new.fingerprint,
    }


def test_unpinned_node_is_never_contacted(sshd_node: SshdNode) -> None:
    with pytest.raises(HostKeyNotPinned):
        SshSession(target(sshd_node, ""))


def test_wrong_ssh_key_gives_auth_error(sshd_node: SshdNode, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    keygen(stranger)
    pinned = fetch_host_key("127.0.0.1", sshd_node.port).line

    with pytest.raises(SshAuthFailed, match="rejected the SSH key"):
        SshSession(target(sshd_node, pinned, str(stranger)))


def test_missing_key_file_is_a_clear_error(sshd_node: SshdNode, tmp_path: Path) -> None:
    pinned = fetch_host_key("127.0.0.1", sshd_node.port).line
    with pytest.raises(SshAuthFailed, match="cannot read SSH private key"):
        SshSession(target(sshd_node, pinned, str(tmp_path / "nope")))


def test_silent_host_times_out_instead_of_hanging(sshd_node: SshdNode) -> None:
    pinned = fetch_host_key("127.0.0.1", sshd_node.port).line
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        key = str(sshd_node.client_key_path)
        hung = SshTarget("127.0.0.1", silent.getsockname()[1], "root", key, pinned, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(NodeUnreachable):
            SshSession(hung)
    assert time.monotonic() - started < 3
