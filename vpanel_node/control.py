"""Commands the desktop runs over SSH: check, activate (switch + reload + health, with
rollback), reload, status. Each prints one JSON object, so the desktop parses one thing.

`activate` does the switch and the rollback on the node itself: if the SSH link drops
half-way, the node still ends on a config that runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vpanel_node import procnet
from vpanel_node.api_client import ApiClient, ApiEndpoint, ApiError
from vpanel_node.layout import Layout, pid_alive, read_json, read_pid

UDP_ONLY = {"hysteria2", "tuic"}
TCP_AND_UDP = {"shadowsocks"}
RELOAD_TIMEOUT = 15.0


class ControlError(Exception):
    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


def config_version(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def expected(config: dict[str, Any]) -> tuple[set[tuple[str, int]], int | None, str]:
    """(listeners the config asks for, api port, api secret)."""
    wanted: set[tuple[str, int]] = set()
    for inbound in config.get("inbounds", []):
        port = inbound.get("listen_port")
        if not port:
            continue
        kind = inbound.get("type", "")
        networks = (
            {"udp"} if kind in UDP_ONLY else {"tcp", "udp"} if kind in TCP_AND_UDP else {"tcp"}
        )
        if inbound.get("network") in ("tcp", "udp"):
            networks = {inbound["network"]}
        wanted.update((net, int(port)) for net in networks)
    for service in config.get("services", []):
        if service.get("type") == "api":
            port = int(service["listen_port"])
            wanted.add(("tcp", port))
            return wanted, port, str(service.get("secret", ""))
    return wanted, None, ""


def log_tail(layout: Layout, lines: int = 5) -> str:
    try:
        text = layout.sing_box_log.read_bytes()[-4000:].decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def health(layout: Layout) -> dict[str, Any]:
    pid = read_pid(layout.sing_box_pid)
    alive = pid_alive(pid)
    wanted, api_port, secret = expected(read_json(layout.config))
    inodes = procnet.socket_inodes(pid) if alive and pid else set()
    bound = procnet.listening(inodes)
    missing = sorted(f"{net}/{port}" for net, port in wanted - bound.keys())
    report: dict[str, Any] = {
        "sing_box_pid": pid if alive else None,
        "listener_inodes": sorted(bound[key] for key in wanted & bound.keys()),
        "running": alive,
        "missing": missing,
        "api_ok": False,
        "api_started_at_ms": 0,
    }
    if alive and api_port and not missing:
        try:
            client = ApiClient(ApiEndpoint("127.0.0.1", api_port, secret))
            report["api_started_at_ms"] = client.started_at()
            report["api_ok"] = True
        except ApiError as exc:
            report["api_error"] = str(exc)
    report["ok"] = alive and not missing and report["api_ok"]
    return report


def _signal_supervisor(layout: Layout) -> None:
    pid = read_pid(layout.supervisor_pid)
    if not pid_alive(pid) or pid is None:
        raise ControlError("activate", "the vpanel_node supervisor is not running")
    os.kill(pid, signal.SIGHUP)


def reload(layout: Layout, timeout: float = RELOAD_TIMEOUT) -> dict[str, Any]:
    """Make sing-box run config.json now and wait until it serves every port it should."""
    before_pid = read_pid(layout.sing_box_pid)
    before = set(health(layout)["listener_inodes"])
    since = time.time()
    _signal_supervisor(layout)
    deadline = since + timeout
    report: dict[str, Any] = {}
    while time.time() < deadline:
        report = health(layout)
        pid = report["sing_box_pid"]
        # A reload re-creates every listener: new sockets (or a new process) mean it happened.
        fresh = pid is not None and (
            pid != before_pid or not (set(report["listener_inodes"]) & before)
        )
        if fresh and report["ok"]:
            return report
        last_exit = read_json(layout.state).get("last_exit") or {}
        if float(last_exit.get("at") or 0) >= since and not report["running"]:
            raise ControlError("health", f"sing-box exited after reload: {log_tail(layout)}")
        time.sleep(0.05)
    problem = f"missing {', '.join(report.get('missing', []))}" if report.get("missing") else ""
    problem = problem or report.get("api_error", "") or "sing-box did not come back"
    raise ControlError("health", f"not healthy after {timeout:.0f}s: {problem}; {log_tail(layout)}")


def record_version(layout: Layout) -> str:
    version = config_version(layout.config)
    tmp = layout.config_sha.with_name(f".{layout.config_sha.name}.tmp")
    tmp.write_text(version + "\n")
    os.replace(tmp, layout.config_sha)
    return version


def check(layout: Layout, config: Path) -> dict[str, Any]:
    result = subprocess.run(
        [layout.sing_box(), "check", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise ControlError("check", (result.stderr or result.stdout).strip()[-1000:])
    return {"ok": True}


def activate(layout: Layout, incoming: Path, timeout: float = RELOAD_TIMEOUT) -> dict[str, Any]:
    """Switch to `incoming` atomically; on a failed reload or health check, roll back."""
    if layout.config.exists() and not layout.last_good.exists():
        shutil.copyfile(layout.config, layout.last_good)
    os.replace(incoming, layout.config)
    try:
        report = reload(layout, timeout)
    except ControlError as failure:
        return {
            "ok": False,
            "stage": failure.stage,
            "error": str(failure),
            **rollback(layout, timeout),
        }
    shutil.copyfile(layout.config, layout.last_good)
    return {"ok": True, "config_version": record_version(layout), **report}


def apply(
    layout: Layout,
    incoming: Path,
    timeout: float = RELOAD_TIMEOUT,
    progress: Callable[[str], None] = lambda _stage: None,
) -> dict[str, Any]:
    """check + activate in one call: one SSH command per push instead of two."""
    for stale in layout.incoming.glob("config-*.json"):  # left by pushes cut off mid-way
        if stale.resolve() != incoming.resolve():
            stale.unlink(missing_ok=True)
    progress("check")
    try:
        check(layout, incoming)
    except ControlError:
        incoming.unlink(missing_ok=True)
        raise
    progress("activate")
    return activate(layout, incoming, timeout)


def rollback(layout: Layout, timeout: float) -> dict[str, Any]:
    if not layout.last_good.exists():
        layout.config.unlink(missing_ok=True)
        layout.config_sha.unlink(missing_ok=True)
        _signal_supervisor(layout)
        return {"rolled_back": True, "rollback_ok": False, "rollback_error": "no earlier config"}
    shutil.copyfile(layout.last_good, layout.config)
    record_version(layout)
    try:
        reload(layout, timeout)
    except ControlError as exc:
        return {"rolled_back": True, "rollback_ok": False, "rollback_error": str(exc)}
    return {"rolled_back": True, "rollback_ok": True}


def _meminfo() -> dict[str, int]:
    info = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, value = line.split(":", 1)
            if key in ("MemTotal", "MemAvailable"):
                info[key] = int(value.split()[0]) * 1024
    except (OSError, ValueError):
        pass
    return info


def _rss(pid: int | None) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def status(layout: Layout) -> dict[str, Any]:
    report = health(layout)
    state = read_json(layout.state)
    config = read_json(layout.config)
    pid = report["sing_box_pid"]
    memory = _meminfo()
    started = state.get("started_at") if pid else None
    report.update(
        supervisor_running=pid_alive(read_pid(layout.supervisor_pid)),
        config_version=config_version(layout.config),
        restarts=state.get("restarts", 0),
        last_exit=state.get("last_exit"),
        uptime_s=round(time.time() - started, 1) if started else 0.0,
        host_uptime_s=float(Path("/proc/uptime").read_text().split()[0]),
        rss_bytes=_rss(pid),
        mem_total_bytes=memory.get("MemTotal", 0),
        mem_available_bytes=memory.get("MemAvailable", 0),
        installed_version=read_json(layout.node_info).get("version", ""),
    )
    report.update(_connections(config, pid))
    return report


def _connections(config: dict[str, Any], pid: int | None) -> dict[str, Any]:
    """Open connections from sing-box's API; /proc (TCP only) if the API does not answer."""
    _wanted, api_port, secret = expected(config)
    if pid and api_port:
        try:
            count = _api_connection_count(ApiEndpoint("127.0.0.1", api_port, secret))
            return {"connections": count, "connections_source": "api"}
        except ApiError:
            pass
    ports = {int(i["listen_port"]) for i in config.get("inbounds", []) if i.get("listen_port")}
    inodes = procnet.socket_inodes(pid) if pid else set()
    return {"connections": procnet.established_on(inodes, ports), "connections_source": "proc"}


def _api_connection_count(endpoint: ApiEndpoint) -> int:
    """Open connections in the snapshot that starts every SubscribeConnections stream."""
    stream = ApiClient(endpoint).subscribe_connections()
    try:
        for batch in stream:
            return sum(1 for e in batch.events if e.connection and not e.connection.closed_at)
    finally:
        stream.close()
    return 0


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, sort_keys=True)
