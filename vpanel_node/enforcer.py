"""Cut users at the node, without the desktop: expiry passed or allowance used up.

Every tick (1 s) the enforcer compares each entitled user's usage on this node since the
entitlements snapshot (journaled records after `as_of_seq` plus what the accountant has
counted but not yet journaled) with the user's share, and the expiry with the clock. A
user who crosses either is cut: live connections closed through the API at once, and the
credential taken out of sing-box's config (kept aside in `blocked.json` so it comes back
when a new snapshot entitles the user again) followed by a reload. Filtering is
re-applied every tick, so a config pushed later with the user in it is fixed within a
tick too. Latency: API event interval + one tick, well under 10 s.

With a `PortalFeed` (offline activation) the users the portal entitles are added to the
config here too (one writer of config.json), and their portal expiry / remaining join
the entitlements: a grant either side knows about counts, since grants only accumulate.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vpanel_node.accountant import Accountant
from vpanel_node.api_client import ApiError
from vpanel_node.journal import UsageLine, atomic_write, scan
from vpanel_node.portal_feed import PortalFeed, PortalUser, merge_users

Held = dict[str, dict[str, list[dict[str, Any]]]]  # user -> inbound tag -> user entries


@dataclass(frozen=True, slots=True)
class Entitled:
    expiry_ms: int | None
    remaining: int | None


def filter_config(config: dict[str, Any], blocked: set[str], held: Held) -> bool:
    """Take blocked users out of every inbound, put unblocked held ones back; True if changed."""
    changed = False
    for inbound in config.get("inbounds", []):
        users = inbound.get("users")
        tag = str(inbound.get("tag", ""))
        if not isinstance(users, list):
            continue
        keep = []
        for entry in users:
            name = entry.get("name") if isinstance(entry, dict) else None
            if name in blocked:
                held.setdefault(name, {}).setdefault(tag, [])
                if entry not in held[name][tag]:
                    held[name][tag].append(entry)
                changed = True
            else:
                keep.append(entry)
        present = {e.get("name") for e in keep if isinstance(e, dict)}
        for name in [n for n in held if n not in blocked]:
            for entry in held[name].pop(tag, []):
                if name not in present:
                    keep.append(entry)
                    changed = True
        inbound["users"] = keep
    for name in [n for n, tags in held.items() if not tags]:
        del held[name]
    return changed


def combine(entitled: dict[str, Entitled], portal: dict[str, PortalUser]) -> dict[str, Entitled]:
    """The desktop's file and the portal's list may each lack grants the other has:
    the later expiry and the larger remaining allowance win (None = unlimited)."""
    result = dict(entitled)
    for name, user in portal.items():
        mine = result.get(name)
        if mine is None:
            result[name] = Entitled(user.expiry_ms, user.remaining)
            continue
        expiry = (
            None
            if mine.expiry_ms is None or user.expiry_ms is None
            else max(mine.expiry_ms, user.expiry_ms)
        )
        remaining = (
            None
            if mine.remaining is None or user.remaining is None
            else max(mine.remaining, user.remaining)
        )
        result[name] = Entitled(expiry, remaining)
    return result


class Enforcer:
    def __init__(
        self,
        accountant: Accountant,
        entitlements_path: Path,
        config_path: Path,
        blocked_path: Path,
        reload: Callable[[], None],
        *,
        tick: float = 1.0,
        clock: Callable[[], float] = time.time,
        feed: PortalFeed | None = None,
    ) -> None:
        self.accountant = accountant
        self.entitlements_path = entitlements_path
        self.config_path = config_path
        self.blocked_path = blocked_path
        self.reload = reload
        self.tick_seconds = tick
        self.clock = clock
        self.feed = feed
        self.entitled: dict[str, Entitled] = {}
        self.used: dict[str, int] = {}
        self.as_of_seq = 0
        self.counted_through = 0
        self.blocked: set[str] = set()
        self.cut_log: list[tuple[str, float]] = []
        self._loaded_stamp: tuple[int, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._used_lock = threading.Lock()
        accountant.listeners.append(self._on_flush)

    def _on_flush(self, lines: list[UsageLine]) -> None:
        with self._used_lock:
            for line in lines:
                if line.seq > max(self.as_of_seq, self.counted_through):
                    self.used[line.user] = self.used.get(line.user, 0) + line.up + line.down
            if lines:
                self.counted_through = max(self.counted_through, lines[-1].seq)

    def load(self) -> None:
        """(Re)read the entitlements file when it changes; recount usage from its `as_of_seq`."""
        try:
            stat = self.entitlements_path.stat()
        except FileNotFoundError:
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._loaded_stamp:
            return
        try:
            payload = json.loads(self.entitlements_path.read_text())
            entitled = {
                str(name): Entitled(
                    None if e.get("expiry") is None else int(e["expiry"]),
                    None if e.get("remaining") is None else int(e["remaining"]),
                )
                for name, e in payload["users"].items()
            }
            as_of = int(payload.get("as_of_seq", 0))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return  # a half-written or bad file: keep enforcing the last good one
        journal = self.accountant.journal
        with self.accountant.lock, self._used_lock:
            data = journal.path.read_bytes() if journal.path.exists() else b""
            used: dict[str, int] = {}
            for line in scan(data, after=as_of).records:
                used[line.user] = used.get(line.user, 0) + line.up + line.down
            self.used, self.as_of_seq = used, as_of
            self.counted_through = journal.next_seq - 1
            self.entitled = entitled
        self._loaded_stamp = stamp

    def over(self) -> set[str]:
        now_ms = int(self.clock() * 1000)
        with self.accountant.lock:
            pending = self.accountant.tally.pending_bytes()
        with self._used_lock:
            used = dict(self.used)
        portal = self.feed.users() if self.feed is not None else None
        entitled = self.entitled if portal is None else combine(self.entitled, portal)
        out = set()
        for name, ent in entitled.items():
            if (ent.expiry_ms is not None and now_ms >= ent.expiry_ms) or (
                ent.remaining is not None
                and used.get(name, 0) + pending.get(name, 0) >= ent.remaining
            ):
                out.add(name)
        return out

    def _read_held(self) -> Held:
        try:
            data = json.loads(self.blocked_path.read_text())
            held = data.get("held", {})
            return held if isinstance(held, dict) else {}
        except (OSError, ValueError):
            return {}

    def apply(self, blocked: set[str]) -> None:
        """Close blocked users' live connections; make the config match; reload if changed."""
        try:
            config = json.loads(self.config_path.read_text())
        except (OSError, ValueError):
            config = None
        original = json.dumps(config, sort_keys=True)
        removed: set[str] = set()
        held = self._read_held()
        before = json.dumps({"blocked": sorted(blocked), "held": held}, sort_keys=True)
        if config is not None:
            filter_config(config, blocked, held)
            removed = self._merge_portal_users(config, blocked)
        with self.accountant.lock:
            live = self.accountant.tally.users_of()
        for name in sorted(blocked | removed):
            for conn_id in live.get(name, []):
                # ApiError: sing-box is restarting, and the reload below cuts it anyway.
                with contextlib.suppress(ApiError):
                    self.accountant.client.close_connection(conn_id)
        for name in blocked - self.blocked:
            self.cut_log.append((name, self.clock()))
        self.blocked = blocked
        if config is None:
            return
        after = json.dumps({"blocked": sorted(blocked), "held": held}, sort_keys=True)
        if after != before or not self.blocked_path.exists():
            atomic_write(self.blocked_path, after.encode())
        if json.dumps(config, sort_keys=True) != original:
            atomic_write(self.config_path, json.dumps(config, indent=2).encode())
            self.reload()

    def _merge_portal_users(self, config: dict[str, Any], blocked: set[str]) -> set[str]:
        """Serve what the portal entitles (nothing before its first answer)."""
        if self.feed is None:
            return set()
        users = self.feed.users()
        if users is None:
            return set()
        managed = set(self.feed.managed)
        removed = merge_users(config, users, managed, blocked, self.feed.flows())
        self.feed.save_managed(managed)
        return removed

    def tick(self) -> None:
        self.load()
        self.apply(self.over())

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            self.tick()

    def start(self) -> Enforcer:
        self._thread = threading.Thread(target=self._loop, daemon=True, name="enforcer")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
