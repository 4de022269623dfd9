"""Offline activation: pull this node's entitled users from the portal and serve them.

A customer who pays while the operator's computer is off must connect within a minute
(architecture decision 6). The desktop writes `portal.json` (`url`, `node_id`, `token`,
`interval`, `flows`) at push time; this feed polls `GET /api/node/entitlements` every
`interval` seconds and keeps the last good answer (also on disk, so a helper restart
while the portal is down still serves the paid users). The enforcer applies it: it adds
the users to every inbound and feeds their expiry and remaining traffic into enforcement.
The remaining traffic is this node's share, split over the user's nodes as the desktop
splits it (`usage.shares`), so k nodes cannot each spend it all. It belongs to the reset
period the portal names (`period_start`): the enforcer counts it against usage from that
instant on, so an answer from before a reset never decides after it (`enforcer.combine`).

Credentials are derived here exactly as `vpanel_core.credentials` derives them (the
node is stdlib only, so the few lines are repeated; a test checks both agree).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from vpanel_node.journal import atomic_write

PORTAL_NAME = "portal.json"
DEFAULT_INTERVAL = 15.0
WAIT_FOR_SETTINGS = 1.0  # portal.json arrives with the first push after bootstrap
HTTP_TIMEOUT = 10.0
SS2022_KEY_BYTES = {
    "2022-blake3-aes-128-gcm": 16,
    "2022-blake3-aes-256-gcm": 32,
    "2022-blake3-chacha20-poly1305": 32,
}
SS_PLACEHOLDER = "vpanel-no-users"  # keeps SS2022 in multi-user mode; never touched here
UUID_ONLY = {"vless", "vmess"}
UUID_AND_PASSWORD = {"tuic"}
PASSWORD_ONLY = {"trojan", "hysteria2", "anytls", "shadowsocks"}


def ss2022_user_key(proxy_secret: str, method: str) -> str:
    """Same bytes as `vpanel_core.credentials.ss2022_user_key`."""
    size = SS2022_KEY_BYTES[method]
    digest = hmac.new(proxy_secret.encode(), b"vpanel-ss2022", hashlib.sha256).digest()
    return base64.b64encode(digest[:size]).decode()


def _iso_ms(value: object) -> int | None:
    return None if value is None else int(datetime.fromisoformat(str(value)).timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class PortalUser:
    """`remaining` is this node's share (None = unlimited) of what the portal saw left in
    the reset period that began at `period_start_ms` (None: no periodic reset, or a portal
    too old to say)."""

    name: str
    uuid: str
    password: str
    expiry_ms: int | None
    remaining: int | None
    period_start_ms: int | None = None

    @classmethod
    def parse(cls, item: Mapping[str, Any]) -> PortalUser:
        """`remaining` is this node's share; a portal too old to send it gives the user's
        whole allowance − used, which k nodes could each spend."""
        if "remaining" in item:
            remaining = None if item["remaining"] is None else max(int(item["remaining"]), 0)
        else:
            allowance = item.get("allowance")
            used = int(item.get("used") or 0)
            remaining = None if allowance is None else max(int(allowance) - used, 0)
        return cls(
            name=str(item["name"]),
            uuid=str(item["uuid"]),
            password=str(item["password"]),
            expiry_ms=_iso_ms(item.get("expiry")),
            remaining=remaining,
            period_start_ms=_iso_ms(item.get("period_start")),
        )


def user_entry(
    kind: str, user: PortalUser, inbound: Mapping[str, Any], flow: str
) -> dict[str, Any]:
    """The sing-box user object for one inbound, as `server_config._user` renders it."""
    if kind == "vless":
        entry: dict[str, Any] = {"name": user.name, "uuid": user.uuid}
        return {**entry, "flow": flow} if flow else entry
    if kind == "vmess":
        return {"name": user.name, "uuid": user.uuid, "alterId": 0}
    if kind == "tuic":
        return {"name": user.name, "uuid": user.uuid, "password": user.password}
    if kind == "shadowsocks":
        return {"name": user.name, "password": ss2022_user_key(user.password, inbound["method"])}
    return {"name": user.name, "password": user.password}


def merge_users(
    config: dict[str, Any],
    users: Mapping[str, PortalUser],
    managed: set[str],
    skip: set[str],
    flows: Mapping[str, str],
) -> set[str]:
    """Add portal users missing from each inbound; drop the ones this feed added that the
    portal no longer lists. Users the desktop pushed are left to the desktop and the
    enforcer; `skip` (users the enforcer cut) are not added back. Updates `managed`;
    returns the names removed (their connections must be closed)."""
    removed = {name for name in managed if name not in users}
    for inbound in config.get("inbounds", []):
        kind, entries = inbound.get("type"), inbound.get("users")
        if (
            not isinstance(entries, list)
            or kind not in UUID_ONLY | UUID_AND_PASSWORD | PASSWORD_ONLY
        ):
            continue
        if kind == "shadowsocks" and inbound.get("method") not in SS2022_KEY_BYTES:
            continue
        kept = [e for e in entries if not (isinstance(e, dict) and e.get("name") in removed)]
        present = {e.get("name") for e in kept if isinstance(e, dict)}
        flow = str(flows.get(str(inbound.get("tag", "")), ""))
        for name in sorted(users):
            if name not in present and name not in skip:
                kept.append(user_entry(str(kind), users[name], inbound, flow))
                managed.add(name)
        inbound["users"] = kept
    managed -= removed
    return removed


class PortalFeed:
    """Polls the portal from its own thread; the enforcer reads `users()` every tick."""

    def __init__(self, settings_path: Path, state_path: Path) -> None:
        self.settings_path = settings_path
        self.state_path = state_path
        self.lock = threading.Lock()
        self._users: dict[str, PortalUser] | None = None
        self.managed: set[str] = set()
        self.last_error = ""
        self.fetches = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._load_state()

    def settings(self) -> dict[str, Any]:
        try:
            data = json.loads(self.settings_path.read_text())
        except (OSError, ValueError):
            return {}
        url = data.get("url") if isinstance(data, dict) else None
        # Only http(s): the URL is opened by urllib, which would also read file: URLs.
        return data if isinstance(url, str) and url.startswith(("http://", "https://")) else {}

    def flows(self) -> dict[str, str]:
        flows = self.settings().get("flows")
        return {str(k): str(v) for k, v in flows.items()} if isinstance(flows, dict) else {}

    def users(self) -> dict[str, PortalUser] | None:
        """The last good list (None before the first answer: nothing to add or remove)."""
        with self.lock:
            return None if self._users is None else dict(self._users)

    def _load_state(self) -> None:
        try:
            state = json.loads(self.state_path.read_text())
            self._users = {u.name: u for u in map(PortalUser.parse, state["users"])}
            self.managed = {str(n) for n in state.get("managed", [])}
        except (OSError, ValueError, KeyError, TypeError):
            return

    def save_managed(self, managed: set[str]) -> None:
        with self.lock:
            if managed == self.managed:
                return
            self.managed = set(managed)
        self._save(None)

    def _save(self, raw: list[dict[str, Any]] | None) -> None:
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            state = {}
        if raw is not None:
            state["users"] = raw
        state["managed"] = sorted(self.managed)
        state.setdefault("users", [])
        atomic_write(self.state_path, json.dumps(state, sort_keys=True).encode())

    def fetch_once(self) -> bool:
        """One pull; on any failure the last good list stays in force."""
        settings = self.settings()
        if not settings:
            return False
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked in settings()
            f"{str(settings['url']).rstrip('/')}/api/node/entitlements",
            headers={
                "X-Node-Id": str(settings["node_id"]),
                "Authorization": f"Bearer {settings['token']}",
                "Accept-Encoding": "gzip",
                "User-Agent": "vpanel-node",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310 - see above
                body = response.read()
                if response.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
            raw = json.loads(body)["users"]
            users = {u.name: u for u in map(PortalUser.parse, raw)}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False
        with self.lock:
            changed = self._users != users
            self._users = users
            self.fetches += 1
            self.last_error = ""
        if changed:
            self._save(raw)
        return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.fetch_once()
            try:
                interval = float(self.settings().get("interval") or DEFAULT_INTERVAL)
            except (TypeError, ValueError):
                interval = DEFAULT_INTERVAL
            self._stop.wait(interval if self.settings() else WAIT_FOR_SETTINGS)

    def start(self) -> PortalFeed:
        self._thread = threading.Thread(target=self._loop, daemon=True, name="portal-feed")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=HTTP_TIMEOUT + 1)
