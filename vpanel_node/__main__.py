"""`python3 -m vpanel_node <command> --dir <remote_dir>`: supervise, check, apply (check +
activate), activate, reload, status, stop. Stdlib only, so any node with python3 runs it."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from vpanel_node import control
from vpanel_node.layout import Layout, pid_alive, read_pid
from vpanel_node.supervisor import Supervisor


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vpanel_node")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("supervise", "check", "apply", "activate", "reload", "status", "stop"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--dir", required=True)
        if name in ("check", "apply", "activate"):
            cmd.add_argument("--config", required=True)
        if name in ("apply", "activate", "reload"):
            cmd.add_argument("--timeout", type=float, default=control.RELOAD_TIMEOUT)
    return parser


def _progress(stage: str) -> None:
    """A line the desktop reads while the command runs (the last line is the report)."""
    print(control.dumps({"progress": stage}), flush=True)


def _stop(layout: Layout, timeout: float = 10.0) -> dict[str, object]:
    pid = read_pid(layout.supervisor_pid)
    if not pid_alive(pid) or pid is None:
        return {"ok": True, "was_running": False}
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + timeout
    while pid_alive(pid) and time.time() < deadline:
        time.sleep(0.05)
    return {"ok": not pid_alive(pid), "was_running": True}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    layout = Layout(args.dir)
    if args.command == "supervise":
        return Supervisor(layout).run()
    try:
        if args.command == "check":
            report = control.check(layout, Path(args.config))
        elif args.command == "apply":
            report = control.apply(layout, Path(args.config), args.timeout, _progress)
        elif args.command == "activate":
            report = control.activate(layout, Path(args.config), args.timeout)
        elif args.command == "reload":
            report = control.reload(layout, args.timeout)
        elif args.command == "status":
            report = control.status(layout)
        else:
            report = _stop(layout)
    except control.ControlError as exc:
        report = {"ok": False, "stage": exc.stage, "error": str(exc)}
    print(control.dumps(report))
    return 0 if report.get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
