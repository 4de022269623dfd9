"""Admin API over subscriptions: list (paged, filtered), revoke, reset access stats."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, jsonify, request
from werkzeug.wrappers import Response

from portal.blueprints.api import access_json
from portal.session_auth import require_admin
from portal.state import unit, written_accesses
from vpanel_core.entitlement import Status
from vpanel_core.errors import ValidationError
from vpanel_core.services import subscriptions as subs

bp = Blueprint("admin_api", __name__, url_prefix="/api/admin")
MAX_PER_PAGE = 200


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, "")
    if not raw:
        return default
    # isdigit() alone admits "²" and other digits int() refuses.
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ValidationError(f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def status_arg() -> Status | None:
    raw = request.args.get("status", "")
    if not raw:
        return None
    try:
        return Status(raw)
    except ValueError:
        allowed = ", ".join(s.value for s in Status)
        raise ValidationError(f"status must be one of {allowed}") from None


def row_json(row: subs.Row) -> dict[str, Any]:
    ent, sub = row.entitlement, row.subscription
    return {
        "user_id": str(row.user.id),
        "username": row.user.username,
        "email": row.user.email,
        "enabled": row.user.enabled,
        "status": ent.status.value,
        "expires_at": ent.expiry.isoformat() if ent.expiry else None,
        "traffic_total": ent.allowance,
        "traffic_used": ent.used,
        "subscription": None
        if sub is None
        else {
            "short_code": sub.short_code,
            "created_at": sub.created_at.isoformat(),
            "access": access_json(sub),
        },
    }


@bp.get("/subscriptions")
def list_subscriptions() -> Response:
    require_admin()
    page = int_arg("page", 1, 1, 1_000_000)
    per_page = int_arg("per_page", 50, 1, MAX_PER_PAGE)
    query = request.args.get("q", "")[:100]
    status = status_arg()
    written_accesses()
    with unit() as session:
        result = subs.search(
            session, query=query, status=status, limit=per_page, offset=(page - 1) * per_page
        )
        items = [row_json(r) for r in result.rows]
    return jsonify({"items": items, "page": page, "per_page": per_page, "total": result.total})


@bp.delete("/subscriptions/<uuid:user_id>")
def revoke(user_id: uuid.UUID) -> Response:
    require_admin()
    with unit() as session:
        subs.revoke(session, user_id)
    return jsonify({"user_id": str(user_id), "revoked": True})


@bp.post("/subscriptions/<uuid:user_id>/reset-stats")
def reset_stats(user_id: uuid.UUID) -> Response:
    require_admin()
    written_accesses()  # else fetches spooled before the reset would count after it
    with unit() as session:
        sub = subs.reset_stats(session, user_id)
        access = access_json(sub)
    return jsonify({"user_id": str(user_id), "access": access})
