"""Run the accountant and the enforcer for one node directory, next to the supervisor.

Paths under remote_dir: `usage/usage.journal` (+ `usage.ack`), `usage/blocked.json`,
`entitlements.json` (written by the desktop), `portal.json` (where to pull the portal's
entitled users, written by the desktop; `usage/portal-users.json` keeps the last good
answer). The API endpoint and secret come from the
`api` service in the node's own config.json, so nothing is configured twice.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO

from vpanel_node.accountant import Accountant
from vpanel_node.api_client import ApiClient, ApiEndpoint
from vpanel_node.enforcer import Enforcer
from vpanel_node.portal_feed import PORTAL_NAME, PortalFeed

USAGE_DIR = "usage"
ENTITLEMENTS_NAME = "entitlements.json"
BLOCKED_NAME = "blocked.json"
PORTAL_STATE_NAME = "portal-users.json"


def api_endpoint(config_path: Path) -> ApiEndpoint | None:
    """The local `api` service sing-box runs, as rendered into config.json."""
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError):
        return None
    for service in config.get("services", []):
        if service.get("type") == "api" and service.get("listen_port"):
            host = str(service.get("listen") or "127.0.0.1")
            host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - we dial, not bind
            return ApiEndpoint(host, int(service["listen_port"]), str(service.get("secret", "")))
    return None


def signal_reload() -> None:
    """We run inside the supervisor: its SIGHUP handler forwards the reload to sing-box."""
    os.kill(os.getpid(), signal.SIGHUP)


@dataclass
class UsageService:
    accountant: Accountant
    enforcer: Enforcer
    feed: PortalFeed
    lock: IO[str]

    def stop(self) -> None:
        self.feed.stop()
        self.enforcer.stop()
        self.accountant.stop()
        self.lock.close()


def start_usage(
    root: Path, config_path: Path, reload: Callable[[], None] = signal_reload
) -> UsageService | None:
    """Start accounting + enforcement; None if another process already runs them here."""
    directory = root / USAGE_DIR
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = open(directory / "journal.lock", "a")  # noqa: SIM115 - held while running
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        return None  # another helper already journals this directory
    resolve = partial(api_endpoint, config_path)
    client = ApiClient(resolve() or ApiEndpoint("127.0.0.1", 0, ""))
    accountant = Accountant(client, directory, resolve=resolve).start()
    feed = PortalFeed(root / PORTAL_NAME, directory / PORTAL_STATE_NAME).start()
    enforcer = Enforcer(
        accountant,
        root / ENTITLEMENTS_NAME,
        config_path,
        directory / BLOCKED_NAME,
        reload,
        feed=feed,
    ).start()
    return UsageService(accountant, enforcer, feed, lock)
