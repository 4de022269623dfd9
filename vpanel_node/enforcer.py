"""Cut users at the node, without the desktop: expiry passed or allowance used up.

Every tick (1 s) the enforcer compares each entitled user's usage on this node since the
entitlements snapshot (journaled records after `as_of_seq` plus what the accountant has
counted but not yet journaled) with the user's share, and the expiry with the clock. A
user who crosses either is cut: live connections closed through the API at once, and the
credential taken out of sing-box's config (kept aside in `blocked.json` so it comes back
when a new snapshot entitles the user again) followed by a reload. Filtering is
re-applied every tick, so a config pushed later with the user in it is fixed within a
tick too. Latency: API event interval + one tick, well under 10 s.

Periodic resets happen here too, so a desktop offline across a month boundary does not
keep a customer cut: the file lists upcoming period starts (`usage.entitlements_file`),
and from each one on the user's limit is the per-period share, counted over records that
ended at or after it (`t1 >= start`, the desktop's rule) plus what is not journaled yet.
Usage is kept per user in buckets between the file's start instants (at most one per
operator-local day), so any period start is summed exactly, a restart recounts the same
buckets from the journal, and a user cut before a reset is served again within a tick.
Records up to `as_of_seq` are the desktop's: one journaled before the file was written
yet ending after a reset (a node clock ahead of the desktop's) is charged to the new
period by the desktop only, a difference bounded by the clock skew, in the customer's
favour.

With a `PortalFeed` (offline activation) the users the portal entitles are added to the
config here too (one writer of config.json), and their portal expiry / remaining join
the entitlements: a grant either side knows about counts, since grants only accumulate.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vpanel_node.accountant import Accountant
from vpanel_node.api_client import ApiError
from vpanel_node.journal import UsageLine, atomic_write, scan
from vpanel_node.portal_feed import PortalFeed, PortalUser, merge_users

Held = dict[str, dict[str, list[dict[str, Any]]]]  # user -> inbound tag -> user entries


def _larger(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else max(a, b)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class Entitled:
    """Expiry and traffic limit (None = unlimited). `remaining` counts from the snapshot
    (`as_of_seq`) on; from each of `resets` (ms, ascending; one tuple shared by all users
    of a strategy) the limit is `next_remaining`, counted from that start."""

    expiry_ms: int | None
    remaining: int | None
    resets: tuple[int, ...] = ()
    next_remaining: int | None = None

    def index(self, moment_ms: int) -> int:
        """Which period `moment_ms` falls in: 0 is the snapshot's, i from `resets[i - 1]`."""
        return bisect_right(self.resets, moment_ms)

    def period(self, now_ms: int) -> tuple[int | None, int | None]:
        """(start, limit) of the period `now_ms` falls in; start None = the snapshot's."""
        index = self.index(now_ms)
        if index == 0:
            return None, self.remaining
        return self.resets[index - 1], self.next_remaining


def parse_entitlements(payload: Mapping[str, Any]) -> dict[str, Entitled]:
    """The users of an entitlements file (`usage.entitlements_file`; old files too)."""
    rows = {str(k): tuple(sorted(int(t) for t in v)) for k, v in payload.get("resets", {}).items()}
    entitled = {}
    for name, entry in payload["users"].items():
        reset = entry.get("reset")
        entitled[str(name)] = Entitled(
            _optional_int(entry.get("expiry")),
            _optional_int(entry.get("remaining")),
            () if reset is None else rows[str(reset)],
            None if reset is None else _optional_int(entry["next_remaining"]),
        )
    return entitled


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


def combine(
    entitled: dict[str, Entitled], portal: dict[str, PortalUser], now_ms: int
) -> dict[str, Entitled]:
    """The limits in force at `now_ms`. The desktop's file and the portal's list may each
    lack grants the other has: the later expiry and the larger remaining win (None =
    unlimited). Both are this node's share, split alike (`usage.shares`), so taking the
    larger does not hand each node the user's whole remaining.

    The portal's remaining is for the period it names, so it joins only when that is the
    file's current period: an answer from before a reset (the portal not asked since, or
    down) neither keeps the user cut after it nor carries old leftovers into the new
    period. A portal that names no period counts only before the file's first reset. A
    user only the portal knows is counted from the portal's period start."""
    result = dict(entitled)
    for name, user in portal.items():
        start = user.period_start_ms
        mine = result.get(name)
        if mine is None:
            resets = () if start is None else (start,)
            result[name] = Entitled(user.expiry_ms, user.remaining, resets, user.remaining)
            continue
        expiry = (
            None
            if mine.expiry_ms is None or user.expiry_ms is None
            else max(mine.expiry_ms, user.expiry_ms)
        )
        mine = replace(mine, expiry_ms=expiry)
        current = mine.index(now_ms)
        joins = (0 if start is None else mine.index(start)) == current
        if joins and current == 0:
            mine = replace(mine, remaining=_larger(mine.remaining, user.remaining))
        elif joins:
            mine = replace(mine, next_remaining=_larger(mine.next_remaining, user.remaining))
        result[name] = mine
    return result


def _count(used: dict[str, dict[int, int]], grid: list[int], lines: list[UsageLine]) -> None:
    """Add records to `used`, each in the bucket of the grid interval its end falls in."""
    for line in lines:
        buckets = used.setdefault(line.user, {})
        bucket = bisect_right(grid, line.t1)
        buckets[bucket] = buckets.get(bucket, 0) + line.up + line.down


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
        self.grid: list[int] = []  # the file's period starts: usage is bucketed between them
        self.used: dict[str, dict[int, int]] = {}  # user -> bucket (index into grid) -> bytes
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
            fresh = [line for line in lines if line.seq > max(self.as_of_seq, self.counted_through)]
            _count(self.used, self.grid, fresh)
            if lines:
                self.counted_through = max(self.counted_through, lines[-1].seq)

    def used_since(self, name: str, start_ms: int | None) -> int:
        """Journaled bytes after `as_of_seq` of records ending at or after `start_ms`
        (None: all of them). Exact when `start_ms` is on the grid, as every period start
        within the file's horizon is; otherwise counted from the grid point before it."""
        with self._used_lock:
            first = 0 if start_ms is None else bisect_right(self.grid, start_ms)
            buckets = self.used.get(name, {})
            return sum(size for bucket, size in buckets.items() if bucket >= first)

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
            entitled = parse_entitlements(payload)
            as_of = int(payload.get("as_of_seq", 0))
            grid = sorted({int(t) for row in payload.get("resets", {}).values() for t in row})
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return  # a half-written or bad file: keep enforcing the last good one
        journal = self.accountant.journal
        with self.accountant.lock, self._used_lock:
            data = journal.path.read_bytes() if journal.path.exists() else b""
            used: dict[str, dict[int, int]] = {}
            _count(used, grid, scan(data, after=as_of).records)
            self.used, self.grid, self.as_of_seq = used, grid, as_of
            self.counted_through = journal.next_seq - 1
            self.entitled = entitled
        self._loaded_stamp = stamp

    def over(self) -> set[str]:
        now_ms = int(self.clock() * 1000)
        with self.accountant.lock:
            pending = self.accountant.tally.pending_bytes()
        portal = self.feed.users() if self.feed is not None else None
        entitled = self.entitled if portal is None else combine(self.entitled, portal, now_ms)
        out = set()
        for name, ent in entitled.items():
            start, limit = ent.period(now_ms)
            # Not yet journaled bytes will be records ending now: in the current period.
            if (ent.expiry_ms is not None and now_ms >= ent.expiry_ms) or (
                limit is not None and self.used_since(name, start) + pending.get(name, 0) >= limit
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
