"""What the desktop shows for a node: reachable, sing-box version and uptime, memory, open
connections, and how the last push went. Read live from the node helper over SSH."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vpanel_core.models import Node
from vpanel_core.nodes.errors import NodeError
from vpanel_core.nodes.remote import helper_command, helper_report
from vpanel_core.nodes.ssh import CONNECT_TIMEOUT, SshSession, SshTarget


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """`connections_source` is "api" (sing-box's own count, TCP and UDP) or "proc" (TCP
    sockets on inbound ports from /proc, when the API does not answer)."""

    reachable: bool
    error: str = ""
    error_code: str = ""
    running: bool = False
    healthy: bool = False
    missing_listeners: tuple[str, ...] = ()
    sing_box_version: str = ""
    uptime_s: float = 0.0
    restarts: int = 0
    rss_bytes: int = 0
    mem_total_bytes: int = 0
    mem_available_bytes: int = 0
    connections: int = 0
    connections_source: str = ""
    running_config_version: str = ""
    config_version: str = ""
    last_push_at: datetime | None = None
    last_push_result: dict[str, Any] | None = None

    @property
    def config_in_sync(self) -> bool:
        return bool(self.config_version) and self.running_config_version == self.config_version


def node_status(node: Node, timeout: float = CONNECT_TIMEOUT) -> NodeStatus:
    recorded: dict[str, Any] = {
        "config_version": node.config_version,
        "last_push_at": node.last_push_at,
        "last_push_result": json.loads(node.last_push_result) if node.last_push_result else None,
    }
    try:
        with SshSession(SshTarget.from_node(node, timeout)) as ssh:
            report = helper_report(ssh.run(helper_command(node.remote_dir, "status"), check=False))
    except NodeError as exc:
        return NodeStatus(reachable=False, error=exc.message, error_code=exc.code, **recorded)
    return NodeStatus(
        reachable=True,
        running=bool(report.get("running")),
        healthy=bool(report.get("ok")),
        missing_listeners=tuple(report.get("missing", ())),
        sing_box_version=str(report.get("installed_version", "")),
        uptime_s=float(report.get("uptime_s", 0.0)),
        restarts=int(report.get("restarts", 0)),
        rss_bytes=int(report.get("rss_bytes", 0)),
        mem_total_bytes=int(report.get("mem_total_bytes", 0)),
        mem_available_bytes=int(report.get("mem_available_bytes", 0)),
        connections=int(report.get("connections", 0)),
        connections_source=str(report.get("connections_source", "")),
        running_config_version=str(report.get("config_version", "")),
        **recorded,
    )
