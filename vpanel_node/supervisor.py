"""Keep sing-box running: start it, forward reloads (SIGHUP), restart crashes with backoff.

Runs under systemd in production or daemonized with setsid/nohup anywhere else; one
supervisor per remote_dir (a lock file enforces it). State goes to run/state.json for
`status` and `reload` to read.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO

from vpanel_node import procnet
from vpanel_node.layout import Layout, read_json, write_json
from vpanel_node.usage_service import start_usage

TICK = 0.1
MAX_BACKOFF = 30.0
STABLE_AFTER = 30.0  # a run this long resets the backoff
MAX_LOG_BYTES = 5 << 20


def catches_sighup(pid: int) -> bool:
    """Whether the process has a SIGHUP handler yet (SigCgt in /proc/<pid>/status)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)))
    except (OSError, ValueError):
        pass
    return False


def reload_child(child: subprocess.Popen[bytes], settle: Callable[[], object]) -> None:
    """Bill live connections up to now, then reload: sing-box ends them without a final
    count, so `settle` (the accountant's refresh) takes one first."""
    settle()
    child.send_signal(signal.SIGHUP)


def api_port(config: dict[str, Any]) -> int | None:
    for service in config.get("services", []):
        if service.get("type") == "api" and service.get("listen_port"):
            return int(service["listen_port"])
    return None


class Supervisor:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.child: subprocess.Popen[bytes] | None = None
        self.child_started = 0.0
        self.child_api_port: int | None = None
        self.failures = 0
        self.next_start = 0.0
        self.restarts = 0
        self.reloads = 0
        self.last_exit: dict[str, Any] | None = None
        self.reload_requested = False
        self.stop_requested = False
        self.settle: Callable[[], object] = lambda: None  # before sing-box reloads or stops

    def _on_hup(self, _signum: int, _frame: FrameType | None) -> None:
        self.reload_requested = True

    def _on_term(self, _signum: int, _frame: FrameType | None) -> None:
        self.stop_requested = True

    def run(self) -> int:
        self.layout.make_dirs()
        lock = open(self.layout.supervisor_lock, "a")  # noqa: SIM115 - held for the lifetime
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            print("another supervisor already runs for this directory", file=sys.stderr)
            return 1
        self.layout.supervisor_pid.write_text(f"{os.getpid()}\n")
        self._write_state()  # announces this supervisor (bootstrap waits for it)
        usage = start_usage(self.layout.root, self.layout.config)  # journal + enforcement
        if usage is not None:
            self.settle = usage.accountant.refresh
        signal.signal(signal.SIGHUP, self._on_hup)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        try:
            while not self.stop_requested:
                self._step()
                time.sleep(TICK)
        finally:
            self._stop_child()  # first, so the accountant still bills its last bytes
            if usage is not None:
                usage.stop()
            self.layout.supervisor_pid.unlink(missing_ok=True)
            self._write_state()
        return 0

    def _step(self) -> None:
        now = time.time()
        if self.reload_requested:
            self.reload_requested = False
            self.reloads += 1
            if self.child is not None and self._ready():
                reload_child(self.child, self.settle)
            else:
                # sing-box dies on a SIGHUP before it has fully started ("context canceled"):
                # a starting instance is replaced by a fresh one reading the current config.
                self._stop_child()
                self.failures, self.next_start = 0, 0.0
            self._write_state()
        if self.child is not None and self.child.poll() is not None:
            ran = now - self.child_started
            self.failures = 1 if ran >= STABLE_AFTER else self.failures + 1
            self.next_start = now + min(MAX_BACKOFF, 0.5 * 2 ** (self.failures - 1))
            self.last_exit = {"code": self.child.returncode, "at": now, "ran": round(ran, 3)}
            self.child = None
            self.layout.sing_box_pid.unlink(missing_ok=True)
            self._write_state()
        if self.child is None and now >= self.next_start and self.layout.config.exists():
            self._start_child(now)

    def _ready(self) -> bool:
        """Fully started: sing-box itself owns its API listener (bound late in its start).
        The Go runtime catches SIGHUP from the first instant, so SigCgt alone proves nothing."""
        if self.child is None or not catches_sighup(self.child.pid):
            return False
        if self.child_api_port is None:
            return True
        owned = procnet.listening(procnet.socket_inodes(self.child.pid))
        return ("tcp", self.child_api_port) in owned

    def _start_child(self, now: float) -> None:
        if self.last_exit is not None:
            self.restarts += 1
        command = [self.layout.sing_box(), "run", "-c", str(self.layout.config)]
        log = self._log()
        try:
            self.child = subprocess.Popen(
                [*command, "-D", str(self.layout.data)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        except OSError as exc:
            log.write(f"cannot start sing-box: {exc}\n".encode())
            self.failures += 1
            self.next_start = now + min(MAX_BACKOFF, 0.5 * 2 ** (self.failures - 1))
            self.last_exit = {"code": None, "at": now, "ran": 0.0}
            self._write_state()
            return
        finally:
            log.close()
        self.child_started = now
        self.child_api_port = api_port(read_json(self.layout.config))
        self.layout.sing_box_pid.write_text(f"{self.child.pid}\n")
        self._write_state()

    def _log(self) -> BinaryIO:
        path = self.layout.sing_box_log
        if path.exists() and path.stat().st_size > MAX_LOG_BYTES:
            os.replace(path, path.with_name(path.name + ".1"))
        return open(path, "ab")

    def _stop_child(self) -> None:
        if self.child is None:
            return
        self.settle()
        self.child.terminate()
        try:
            self.child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()
        self.child = None
        self.layout.sing_box_pid.unlink(missing_ok=True)

    def _write_state(self) -> None:
        write_json(
            self.layout.state,
            {
                "supervisor_pid": os.getpid(),
                "sing_box_pid": self.child.pid if self.child else None,
                "started_at": self.child_started if self.child else None,
                "restarts": self.restarts,
                "reloads": self.reloads,
                "last_exit": self.last_exit,
                "next_start_at": self.next_start if self.child is None else None,
                "updated_at": time.time(),
            },
        )
