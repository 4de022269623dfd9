"""Where everything lives under a node's remote_dir (shared by the helper and the desktop)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PRODUCTION_DIR = "/opt/vpanel-node"


class Layout:
    def __init__(self, root: str) -> None:
        self.root = Path(root).resolve()
        self.bin = self.root / "bin"
        self.lib = self.root / "lib"
        self.run = self.root / "run"
        self.log = self.root / "log"
        self.data = self.root / "data"
        self.incoming = self.root / "incoming"
        self.config = self.root / "config.json"
        self.last_good = self.root / "config.last-good.json"
        # sha256 of config.json, kept by activate/rollback: "unchanged?" without a shell.
        self.config_sha = self.root / "config.json.sha256"
        self.node_info = self.root / "node.json"
        self.supervisor_pid = self.run / "supervisor.pid"
        self.supervisor_lock = self.run / "supervisor.lock"
        self.sing_box_pid = self.run / "sing-box.pid"
        self.state = self.run / "state.json"
        self.sing_box_log = self.log / "sing-box.log"

    def make_dirs(self) -> None:
        for path in (self.bin, self.lib, self.run, self.log, self.data, self.incoming):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)

    def sing_box(self) -> str:
        """The sing-box binary bootstrap chose (uploaded or already on the node)."""
        info = read_json(self.node_info)
        return str(info.get("sing_box") or self.bin / "sing-box")


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic replace, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))
    os.replace(tmp, path)


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
