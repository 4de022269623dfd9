"""Portal side of the protocol, free of Flask: the blueprint only moves bytes in and out.

Every handler verifies the message against the paired desktop key and records its id
in the same transaction as what it changes; any rejection raises a coded SyncRejected
(logged by `envelope`) and leaves the database untouched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vpanel_core.batching import paused_gc
from vpanel_core.db import transaction
from vpanel_core.runtime import Database
from vpanel_core.secretbox import SecretBox
from vpanel_core.sync import apply_portal, envelope, events, keys, node_access, pairing
from vpanel_core.sync.errors import MessageMalformed, NotPaired, ResyncRequired
from vpanel_core.sync.models import SyncPeer
from vpanel_core.sync.pairing import DESKTOP, PORTAL

log = logging.getLogger("vpanel.sync")
MAX_EVENTS_PAGE = 2000


@dataclass(frozen=True, slots=True)
class PortalSync:
    database: Database
    box: SecretBox

    def identity(self) -> keys.Identity:
        with transaction(self.database.sessions) as session:
            return keys.identity(session, self.box)

    def issue_pairing_code(self) -> str:
        with transaction(self.database.sessions) as session:
            code = pairing.issue_code(session)
        log.warning("a sync pairing code was issued (valid 15 minutes, single use)")
        return code

    def pair(self, data: bytes) -> bytes:
        me = self.identity()
        with transaction(self.database.sessions) as session:
            return pairing.accept(session, me, data)

    def _desktop(self) -> tuple[keys.Identity, SyncPeer]:
        me = self.identity()
        with self.database.sessions() as session:
            peer = session.get(SyncPeer, DESKTOP)
        if peer is None:
            raise NotPaired("no desktop is paired with this portal")
        return me, peer

    @paused_gc()
    def publish(self, data: bytes, now: datetime | None = None) -> bytes:
        """Apply a snapshot page or delta; answer with the version now applied."""
        me, peer = self._desktop()
        message = envelope.open_message(
            data, keys.load_public(peer.public_key), PORTAL, "publish", now=now
        )
        body = message.body
        with transaction(self.database.sessions) as session:
            envelope.accept_once(session, message)
            current = session.get(SyncPeer, DESKTOP, with_for_update=True)
            if current is None or current.key_id != peer.key_id:
                raise NotPaired("the desktop was re-paired; pair again")
            counts = self._apply(session, current, body)
        reply = {"request": message.jti, "published_version": counts.pop("version"), **counts}
        return envelope.seal(me, DESKTOP, "published", reply)

    @staticmethod
    def _apply(session: Any, peer: SyncPeer, body: dict[str, Any]) -> dict[str, int]:
        try:
            mode = str(body["mode"])
            to_version = int(body["to_version"])
            seen = int(body.get("seen_event_seq", 0))
            publication = body["publication"]
        except (KeyError, TypeError, ValueError):
            raise MessageMalformed("publish body lacks mode / versions / publication") from None
        if mode == "delta":
            from_version = int(body.get("from_version", 0))
            if from_version > peer.published_version:
                raise ResyncRequired(
                    f"portal has version {peer.published_version}, delta starts at {from_version}",
                    details={"published_version": peer.published_version},
                )
            if to_version <= peer.published_version:
                return {"version": peer.published_version}
        counts = apply_portal.apply(session, publication, seen)
        if mode == "delta" or body.get("final"):
            peer.published_version = to_version
        return {"version": peer.published_version, **counts}

    def events(self, token: str, cursor: int, limit: int, now: datetime | None = None) -> bytes:
        """A signed page of the event log after `cursor` (the request is signed too)."""
        me, peer = self._desktop()
        message = envelope.open_token(
            token, keys.load_public(peer.public_key), PORTAL, "pull", now=now
        )
        if message.body.get("cursor") != cursor:
            raise MessageMalformed("cursor in the request does not match the signed one")
        since_text = message.body.get("access_since")
        since = datetime.fromisoformat(since_text) if since_text else None
        with transaction(self.database.sessions) as session:
            envelope.accept_once(session, message)
            page = events.page(session, cursor, min(max(limit, 1), MAX_EVENTS_PAGE), since)
        page["request"] = message.jti
        return envelope.seal(me, DESKTOP, "events", page)

    def node_entitlements(self, node_id: str, token: str) -> list[dict[str, Any]]:
        with self.database.sessions() as session:
            node = node_access.authenticate(session, node_id, token)
            return node_access.entitlements_for_node(session, node)
