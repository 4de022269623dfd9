"""A node helper's files and enforcer, driven by the test instead of sing-box."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from vpanel_node.accountant import Accountant
from vpanel_node.api_client import ApiClient, ApiEndpoint
from vpanel_node.enforcer import Enforcer
from vpanel_node.journal import atomic_write
from vpanel_node.portal_feed import PortalFeed
from vpanel_node.proto.daemon import Connection, ConnectionEvent, ConnectionEvents, EventType


class Clock:
    """The enforcer's clock, set by the test (unix ms in, seconds out like `time.time`)."""

    def __init__(self, at_ms: int) -> None:
        self.ms = at_ms

    def __call__(self) -> float:
        return self.ms / 1000


class NodeDir:
    """A node helper's files (journal, entitlements, one trojan inbound) and the enforcer
    over them. The accountant is never started: the test journals, as its flush would."""

    def __init__(
        self, root: Path, clock: Clock, users: list[str], feed: PortalFeed | None = None
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.clock, self.feed = root, clock, feed
        self.entitlements = root / "entitlements.json"
        self.config = root / "config.json"
        self.config.write_text(
            json.dumps(
                {
                    "inbounds": [
                        {
                            "type": "trojan",
                            "tag": "trojan-in",
                            "users": [{"name": n, "password": f"pw-{n}"} for n in users],
                        }
                    ]
                }
            )
        )
        self.reloads = 0
        self.accountant, self.enforcer = self._helper()

    def _helper(self) -> tuple[Accountant, Enforcer]:
        accountant = Accountant(ApiClient(ApiEndpoint("127.0.0.1", 9, "")), self.root / "usage")
        enforcer = Enforcer(
            accountant,
            self.entitlements,
            self.config,
            self.root / "blocked.json",
            self._reload,
            clock=self.clock,
            feed=self.feed,
        )
        return accountant, enforcer

    def _reload(self) -> None:
        self.reloads += 1

    def restart(self) -> None:
        """A new helper process on the same files."""
        self.accountant, self.enforcer = self._helper()
        self.enforcer.load()

    def entitle(self, payload: dict[str, Any]) -> None:
        atomic_write(self.entitlements, json.dumps(payload).encode())
        # The enforcer reloads on a new (mtime, size): coarse file clocks could repeat one.
        stamp = time.time_ns()
        os.utime(self.entitlements, ns=(stamp, stamp))
        self.enforcer.load()

    def journal(self, user: str, size: int, t1_ms: int) -> None:
        """One flush of `size` bytes ending at `t1_ms`, seen by the enforcer as it is live."""
        with self.accountant.lock:
            lines = self.accountant.journal.append([(user, 0, size, t1_ms - 1000, t1_ms)], {}, [])
        for listener in self.accountant.listeners:
            listener(lines)

    def pending(self, user: str, size: int) -> None:
        """Bytes of a closed connection the accountant counted but has not journaled yet."""
        conn = Connection(id=f"c{size}", user=user, closed_at=1, downlink_total=size)
        event = ConnectionEvent(EventType.CLOSED, conn.id, conn)
        with self.accountant.lock:
            self.accountant.tally.apply(ConnectionEvents([event]), self.clock.ms)

    def served(self) -> set[str]:
        config = json.loads(self.config.read_text())
        return {u["name"] for inbound in config["inbounds"] for u in inbound["users"]}
