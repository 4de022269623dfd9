"""JSON API for the logged-in customer (session cookie + CSRF header, or Bearer JWT)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from portal.link_bundle import LinkBundle, link_bundle
from portal.login_flow import attempt_login
from portal.openapi import document
from portal.session_auth import issue, require_user
from portal.site import base_url, operator_settings
from portal.state import portal, unit, written_accesses
from vpanel_core.errors import NotFound, ValidationError
from vpanel_core.models import Subscription, User
from vpanel_core.services import subscriptions as subs
from vpanel_core.timeutil import utcnow

bp = Blueprint("api", __name__, url_prefix="/api")


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("expected a JSON object body (Content-Type: application/json)")
    return body


def links_json(bundle: LinkBundle) -> dict[str, Any]:
    return {
        "subscription": bundle.subscription,
        "short": bundle.short,
        "clash_yaml": bundle.clash_yaml,
        "sing_box_json": bundle.sing_box_json,
        "formats": bundle.formats,
        "imports": [{"client": i.client, "label": i.label, "url": i.url} for i in bundle.imports],
    }


def _own_subscription(session: Session, user: User) -> Subscription:
    try:
        return subs.of_user(session, user.id)
    except NotFound:
        raise NotFound("you have no subscription link; create one on the dashboard") from None


@bp.get("/subscription/link")
def link() -> Response:
    user = require_user()
    with unit() as session:
        sub = _own_subscription(session, user)
        values = operator_settings(session)
        bundle = link_bundle(base_url(values), sub, str(values["site_name"]))
    return jsonify(links_json(bundle))


@bp.get("/subscription/info")
def info() -> Response:
    user = require_user()
    now = utcnow()
    written_accesses()
    with unit() as session:
        sub = _own_subscription(session, user)
        current = subs.state(session, sub, now)
    ent = current.entitlement
    return jsonify(
        {
            "status": ent.status.value,
            "expires_at": ent.expiry.isoformat() if ent.expiry else None,
            "days_left": ent.days_left(now),
            "traffic_total": ent.allowance,
            "traffic_used": ent.used,
            "traffic_remaining": ent.remaining,
            "upload": current.usage.upload,
            "download": current.usage.download,
            "access": access_json(sub),
        }
    )


def access_json(sub: Subscription) -> dict[str, Any]:
    return {
        "count": sub.access_count,
        "last_at": sub.last_access_at.isoformat() if sub.last_access_at else None,
        "last_ip": sub.last_access_ip,
        "last_user_agent": sub.last_access_ua,
    }


@bp.post("/subscription/regenerate")
def regenerate() -> Response:
    user = require_user()
    with unit() as session:
        fresh = session.get(User, user.id)
        if fresh is None:
            raise NotFound("no such user")
        sub = subs.regenerate(session, fresh)
        values = operator_settings(session)
        bundle = link_bundle(base_url(values), sub, str(values["site_name"]))
    return jsonify(links_json(bundle))


@bp.post("/auth/token")
def issue_token() -> Response:
    """Exchange e-mail + password for a Bearer JWT (same lockout as the login form)."""
    body = json_body()
    email, password = body.get("email"), body.get("password")
    if not isinstance(email, str) or not isinstance(password, str):
        raise ValidationError("email and password must be strings")
    user = attempt_login(email[:320], password[:256])
    token, claims = issue(portal().config, user)
    return jsonify(
        {"token": token, "token_type": "Bearer", "expires_at": claims.expires_at.isoformat()}
    )


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())
