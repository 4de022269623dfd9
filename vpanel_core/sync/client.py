"""Desktop side of the protocol (Qt-free): pair once, then pull events and publish.

Order of one sync: pull portal events until caught up (each page applied with its
cursor in one transaction), then publish — snapshot pages until the portal holds the
whole picture, then deltas — moving the acknowledged version only after the portal's
signed acknowledgement. A crash anywhere repeats at most the last step, which the
receiver applies idempotently.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from vpanel_core.batching import paused_gc
from vpanel_core.db import transaction
from vpanel_core.runtime import Database
from vpanel_core.secretbox import SecretBox
from vpanel_core.sync import apply_desktop, changes, envelope, keys, pairing, publication
from vpanel_core.sync.errors import MessageMalformed, NotPaired, ResyncRequired
from vpanel_core.sync.models import SyncPeer
from vpanel_core.sync.pairing import DESKTOP, PORTAL
from vpanel_core.sync.transport import HEADERS, HttpTransport, Transport, sealed_body

log = logging.getLogger("vpanel.sync")


@dataclass(frozen=True, slots=True)
class SyncReport:
    events_pulled: int = 0
    users_adopted: int = 0
    snapshot_pages: int = 0
    changes_published: int = 0


class SyncClient:
    def __init__(
        self,
        database: Database,
        box: SecretBox,
        *,
        transport: Transport | None = None,
        page_size: int = 2000,  # users per snapshot page (see bench/bench_sync.py)
        delta_limit: int = 2000,
        events_page: int = 500,
    ) -> None:
        self.database = database
        self.box = box
        self.transport: Transport = transport or HttpTransport()
        self.page_size = page_size
        self.delta_limit = delta_limit
        self.events_page = events_page
        changes.track_changes(database.sessions)

    def _identity(self) -> keys.Identity:
        with transaction(self.database.sessions) as session:
            return keys.identity(session, self.box)

    def _peer(self) -> SyncPeer:
        with self.database.sessions() as session:
            peer = session.get(SyncPeer, PORTAL)
        if peer is None:
            raise NotPaired("this desktop is not paired with a portal")
        return peer

    def is_paired(self) -> bool:
        with self.database.sessions() as session:
            return session.get(SyncPeer, PORTAL) is not None

    def peer_url(self) -> str | None:
        """The paired portal's address (None while not paired)."""
        with self.database.sessions() as session:
            peer = session.get(SyncPeer, PORTAL)
            return None if peer is None else peer.url

    def pending(self) -> int:
        """Changes not yet acknowledged by the portal (-1 while a snapshot is owed)."""
        with self.database.sessions() as session:
            peer = session.get(SyncPeer, PORTAL)
            if peer is None or peer.published_version == 0 or peer.snapshot_version is not None:
                return -1 if peer is not None else 0
            return changes.pending(session, peer.published_version)

    def pair(self, portal_url: str, code: str) -> str:
        """Pair with the portal using the one-time code it shows; returns its key id."""
        me = self._identity()
        url = portal_url.rstrip("/")
        reply = self.transport.send(
            "POST", f"{url}/api/sync/pair", body=pairing.request(me, code), headers=HEADERS
        )
        answer = sealed_body(reply)
        with transaction(self.database.sessions) as session:
            peer = pairing.complete(session, me, code, url, answer)
            return peer.key_id

    def sync_once(self) -> SyncReport:
        pulled, adopted = self.pull_events()
        pages, published = self.publish()
        return SyncReport(pulled, adopted, pages, published)

    # -- portal → desktop -------------------------------------------------------------

    def pull_events(self) -> tuple[int, int]:
        me, total, adopted = self._identity(), 0, 0
        while True:
            peer = self._peer()
            query = {"cursor": peer.events_cursor, "limit": self.events_page}
            claims: dict[str, Any] = {"cursor": peer.events_cursor}
            if peer.access_since is not None:
                claims["access_since"] = peer.access_since.isoformat()
            token = envelope.seal_token(me, PORTAL, "pull", claims)
            headers = {**HEADERS, "Authorization": f"Bearer {token}"}
            url = f"{peer.url}/api/sync/events?{urlencode(query)}"
            data = sealed_body(self.transport.send("GET", url, headers=headers))
            page = self._apply_page(peer, data, envelope.jti_of(token))
            total += len(page["events"])
            adopted += page["adopted"]
            if not page["has_more"]:
                return total, adopted

    def _apply_page(self, peer: SyncPeer, data: bytes, request_jti: str) -> dict[str, Any]:
        message = envelope.open_message(data, keys.load_public(peer.public_key), DESKTOP, "events")
        page = message.body
        if page.get("request") != request_jti:
            raise MessageMalformed("events page answers another request")
        with transaction(self.database.sessions) as session:
            envelope.accept_once(session, message)
            current = session.get(SyncPeer, PORTAL)
            if current is None or current.events_cursor != peer.events_cursor:
                raise NotPaired("sync state changed underneath this pull")
            counts = apply_desktop.apply(session, page)
            current.events_cursor = int(page["next_cursor"])
            stamps = [datetime.fromisoformat(a["last_access_at"]) for a in page["access"]]
            if stamps:
                current.access_since = max(stamps)
        return {**page, "adopted": counts["adopted"]}

    # -- desktop → portal -------------------------------------------------------------

    def publish(self) -> tuple[int, int]:
        pages = published = 0
        while True:
            peer = self._peer()
            if peer.published_version == 0 or peer.snapshot_version is not None:
                pages += self._snapshot(peer)
                continue
            with self.database.sessions() as session:
                built = publication.delta(session, peer.published_version, self.delta_limit)
            if built is None:
                self._restart_snapshot()
                continue
            body, version = built
            if version == peer.published_version:
                return pages, published
            try:
                self._send(
                    peer,
                    {
                        "mode": "delta",
                        "from_version": peer.published_version,
                        "to_version": version,
                        "publication": body,
                    },
                )
            except ResyncRequired:
                self._restart_snapshot()
                continue
            published += version - peer.published_version
            self._acked(version)

    def _snapshot(self, peer: SyncPeer) -> int:
        """Send the remaining snapshot pages in order; returns how many were acknowledged.

        The next page is read and sealed in a worker thread while the current one is in
        flight (the portal applies it meanwhile); pages are still sent one at a time and
        `snapshot_after` moves only after each signed acknowledgement, so the snapshot
        stays resumable page by page. A prefetched page that is never sent is dropped.
        """
        with transaction(self.database.sessions) as session:
            current = session.get(SyncPeer, PORTAL)
            assert current is not None
            if current.snapshot_version is None:
                # Changes after this version are sent as deltas once the snapshot is done.
                if changes.latest_version(session) == 0:
                    changes.mark(session, [("snapshot", "")])  # versions start above 0
                current.snapshot_version = changes.latest_version(session)
                current.snapshot_after = None
            version, after = current.snapshot_version, current.snapshot_after
        me, pages = self._identity(), 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vpanel-sync-page") as pool:
            upcoming = pool.submit(self._sealed_page, me, peer, version, after)
            while True:
                request, last = upcoming.result()
                final = last == ""
                if not final:
                    upcoming = pool.submit(self._sealed_page, me, peer, version, last)
                try:
                    self._post(peer, request)
                except BaseException:
                    upcoming.cancel()
                    raise
                self._snapshot_acked(version, last)
                pages += 1
                if final:
                    return pages

    @paused_gc()
    def _sealed_page(
        self, me: keys.Identity, peer: SyncPeer, version: int, after: str | None
    ) -> tuple[bytes, str]:
        with self.database.sessions() as session:
            body, last = publication.snapshot_page(session, after, self.page_size)
        message = {"mode": "snapshot", "to_version": version, "final": last == ""}
        message["publication"] = body
        message["seen_event_seq"] = peer.events_cursor
        return envelope.seal(me, PORTAL, "publish", message), last

    def _snapshot_acked(self, version: int, last: str) -> None:
        with transaction(self.database.sessions) as session:
            current = session.get(SyncPeer, PORTAL)
            assert current is not None
            if last == "":
                current.published_version = version
                current.snapshot_version = None
                current.snapshot_after = None
                changes.prune(session, version)
            else:
                current.snapshot_after = last

    def _restart_snapshot(self) -> None:
        log.warning("sync: the portal needs a full snapshot; starting one")
        with transaction(self.database.sessions) as session:
            current = session.get(SyncPeer, PORTAL)
            assert current is not None
            current.published_version = 0
            current.snapshot_version = None
            current.snapshot_after = None

    def _send(self, peer: SyncPeer, body: dict[str, Any]) -> dict[str, Any]:
        me = self._identity()
        body["seen_event_seq"] = peer.events_cursor
        return self._post(peer, envelope.seal(me, PORTAL, "publish", body))

    def _post(self, peer: SyncPeer, request: bytes) -> dict[str, Any]:
        reply = self.transport.send(
            "POST", f"{peer.url}/api/sync/publish", body=request, headers=HEADERS
        )
        data = sealed_body(reply)
        message = envelope.open_message(
            data, keys.load_public(peer.public_key), DESKTOP, "published"
        )
        if message.body.get("request") != envelope.jti_of(request):
            raise MessageMalformed("acknowledgement answers another request")
        with transaction(self.database.sessions) as session:
            envelope.accept_once(session, message)
        return message.body

    def _acked(self, version: int) -> None:
        with transaction(self.database.sessions) as session:
            current = session.get(SyncPeer, PORTAL)
            assert current is not None
            current.published_version = version
            changes.prune(session, version)
