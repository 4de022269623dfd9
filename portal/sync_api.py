"""Sync API: bytes in, bytes out; all checking and applying lives in vpanel_core.sync.

POST /api/sync/pairing-code  admin: a one-time pairing code (also: flask sync-pair-code)
POST /api/sync/pair       desktop's signed pairing request → portal's signed answer
POST /api/sync/publish    signed snapshot page / delta → signed acknowledgement
GET  /api/sync/events     ?cursor=&limit=, signed request in Authorization → signed page
GET  /api/node/entitlements  node id in X-Node-Id, pull token as Bearer → JSON list
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json

from cryptography.fernet import Fernet
from flask import Blueprint, Flask, Response, current_app, request

from portal.openapi import register_paths
from portal.session_auth import require_admin
from portal.state import EXTENSION as PORTAL_EXTENSION
from portal.state import PortalState
from portal.sync_openapi import PATHS
from vpanel_core.secretbox import SecretBox
from vpanel_core.sync.envelope import CONTENT_TYPE
from vpanel_core.sync.errors import MessageMalformed, NodeAuthFailed
from vpanel_core.sync.events import track_events
from vpanel_core.sync.portal_side import PortalSync

bp = Blueprint("sync_api", __name__, url_prefix="/api")
EXTENSION = "vpanel_sync"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def init_app(app: Flask) -> None:
    """Register the API and make portal transactions log their events (call once)."""
    state: PortalState = app.extensions[PORTAL_EXTENSION]
    track_events(state.database.sessions)
    app.extensions[EXTENSION] = PortalSync(state.database, box_for(state.config.secret_key))
    app.register_blueprint(bp)
    register_paths(app, PATHS)


def box_for(secret_key: str) -> SecretBox:
    """Seals the portal's sync key with a key derived from the portal secret, which every
    portal process (and machine) already shares."""
    digest = hashlib.sha256(b"vpanel-sync-key:" + secret_key.encode()).digest()
    return SecretBox(Fernet(base64.urlsafe_b64encode(digest)), "portal secret key")


def service() -> PortalSync:
    sync: PortalSync = current_app.extensions[EXTENSION]
    return sync


def sealed(data: bytes) -> Response:
    return Response(data, content_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})


def message_body() -> bytes:
    request.max_content_length = MAX_MESSAGE_BYTES
    if request.mimetype != CONTENT_TYPE:
        raise MessageMalformed(f"expected {CONTENT_TYPE}")
    return request.get_data(cache=False)


@bp.post("/sync/pairing-code")
def pairing_code() -> Response:
    """Admin only: a one-time code to type into the desktop (valid 15 minutes)."""
    require_admin()
    code = service().issue_pairing_code()
    return Response(json.dumps({"code": code}), content_type="application/json")


@bp.post("/sync/pair")
def pair() -> Response:
    return sealed(service().pair(message_body()))


@bp.post("/sync/publish")
def publish() -> Response:
    answer = service().publish(message_body())
    # Nodes, settings or users may have changed: the serving caches must not wait a TTL.
    current_app.extensions[PORTAL_EXTENSION].serving.invalidate()
    return sealed(answer)


@bp.get("/sync/events")
def events() -> Response:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        raise MessageMalformed("the events request must be signed (Authorization: Bearer)")
    try:
        cursor = int(request.args.get("cursor", "0"))
        limit = int(request.args.get("limit", "500"))
    except ValueError:
        raise MessageMalformed("cursor and limit must be integers") from None
    return sealed(service().events(header[7:].strip(), cursor, limit))


@bp.get("/node/entitlements")
def node_entitlements() -> Response:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        raise NodeAuthFailed("unknown node or wrong token")
    users = service().node_entitlements(request.headers.get("X-Node-Id", ""), header[7:].strip())
    raw = json.dumps({"users": users}, separators=(",", ":")).encode()
    response = Response(raw, content_type="application/json", headers={"Cache-Control": "no-store"})
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response.set_data(gzip.compress(raw, compresslevel=5))
        response.headers["Content-Encoding"] = "gzip"
    return response
