"""The node helper's supervisor, run as the node runs it (python3, stdlib, its own dir):
restarts a crashed sing-box with backoff, stops cleanly, and explains refusals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.clients import sing_box_binary
from tests.fixtures.ports import free_ports
from tests.fixtures.sshd import kill_pid, pid_alive, wait_until
from vpanel_node.layout import Layout, read_json, read_pid
from vpanel_node.systemd import unit_text

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def helper(layout: Layout, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vpanel_node", args[0], "--dir", str(layout.root), *args[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[Layout]:
    """A node directory with a minimal config (just the API) and a running supervisor."""
    layout = Layout(str(tmp_path / "node"))
    layout.make_dirs()
    layout.node_info.write_text(json.dumps({"sing_box": str(sing_box_binary()), "version": "x"}))
    [api_port] = free_ports(1)
    layout.config.write_text(
        json.dumps(
            {
                "log": {"level": "warn"},
                "outbounds": [{"type": "direct", "tag": "direct"}],
                "services": [
                    {"type": "api", "listen": "127.0.0.1", "listen_port": api_port, "secret": "s"}
                ],
                "experimental": {"clash_api": {}},
            }
        )
    )
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "vpanel_node", "supervise", "--dir", str(layout.root)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield layout
    supervisor.send_signal(signal.SIGTERM)
    try:
        supervisor.wait(timeout=10)
    finally:
        supervisor.kill()
        pid = read_pid(layout.sing_box_pid)
        if pid:
            kill_pid(pid)


def healthy(layout: Layout) -> bool:
    return bool(json.loads(helper(layout, "status").stdout).get("ok"))


def test_crashed_sing_box_is_restarted_and_counted(layout: Layout) -> None:
    wait_until(lambda: healthy(layout), what="first start")
    first = read_pid(layout.sing_box_pid)
    assert first is not None
    os.kill(first, signal.SIGKILL)

    wait_until(
        lambda: read_pid(layout.sing_box_pid) not in (None, first) and healthy(layout),
        what="restart after crash",
    )
    status = json.loads(helper(layout, "status").stdout)
    assert status["restarts"] == 1
    assert status["last_exit"]["code"] == -signal.SIGKILL
    assert status["uptime_s"] < 10
    assert status["rss_bytes"] > 0 and status["mem_total_bytes"] > 0


def test_reload_reports_a_fresh_healthy_instance(layout: Layout) -> None:
    wait_until(lambda: healthy(layout), what="first start")
    before = json.loads(helper(layout, "status").stdout)

    reloaded = helper(layout, "reload", "--timeout", "10")

    report = json.loads(reloaded.stdout)
    assert reloaded.returncode == 0 and report["ok"]
    assert set(report["listener_inodes"]).isdisjoint(before["listener_inodes"])
    assert read_json(layout.state)["reloads"] == 1


def test_stop_ends_supervisor_and_sing_box(layout: Layout) -> None:
    wait_until(lambda: healthy(layout), what="first start")
    sing_box, supervisor = read_pid(layout.sing_box_pid), read_pid(layout.supervisor_pid)
    assert sing_box is not None and supervisor is not None

    assert json.loads(helper(layout, "stop").stdout) == {"ok": True, "was_running": True}
    assert not pid_alive(sing_box) and not pid_alive(supervisor)


def test_reload_without_a_supervisor_says_so(tmp_path: Path) -> None:
    layout = Layout(str(tmp_path / "empty"))
    layout.make_dirs()
    result = helper(layout, "reload")
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"] == "the vpanel_node supervisor is not running"


def test_systemd_unit_runs_the_helper_from_the_node_directory() -> None:
    unit = unit_text("/opt/vpanel-node")
    assert "ExecStart=/usr/bin/python3 -m vpanel_node supervise --dir /opt/vpanel-node" in unit
    assert "Environment=PYTHONPATH=/opt/vpanel-node/lib" in unit
    assert "Restart=always" in unit and "ExecReload=/bin/kill -HUP $MAINPID" in unit
