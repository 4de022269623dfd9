"""The customer's dashboard: status, usage, the link with QR and imports, regenerate."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.link_bundle import link_bundle
from portal.pages import page
from portal.session_auth import require_user
from portal.site import base_url, operator_settings
from portal.state import unit, written_accesses
from vpanel_core.errors import ValidationError
from vpanel_core.formats.options import human_bytes
from vpanel_core.models import Subscription, User
from vpanel_core.services import ledger
from vpanel_core.services import subscriptions as subs
from vpanel_core.timeutil import utcnow

bp = Blueprint("dashboard", __name__)


@bp.get("/dashboard")
def show() -> Response:
    user_id = require_user().id
    now = utcnow()
    written_accesses()
    with unit() as session:
        user = session.get(User, user_id)
        assert user is not None
        sub = session.query(Subscription).filter_by(user_id=user.id).first()
        values = operator_settings(session)
        if sub is not None:
            current = subs.state(session, sub, now)
            ent = current.entitlement
        else:
            ent = ledger.entitlement(session, user, now)
        bundle = link_bundle(base_url(values), sub, str(values["site_name"])) if sub else None
    percent = min(100, round(100 * ent.used / ent.allowance)) if ent.allowance else 0
    return page(
        "dashboard.html",
        ent=ent,
        sub=sub,
        bundle=bundle,
        percent=percent,
        used_text=human_bytes(ent.used),
        remaining_text=human_bytes(ent.remaining) if ent.remaining is not None else None,
        days_left=ent.days_left(now),
        expires_text=ent.expiry.strftime("%Y-%m-%d %H:%M UTC") if ent.expiry else None,
    )


@bp.post("/dashboard/regenerate")
def regenerate() -> BaseResponse:
    """Needs `confirm=yes` (set by the confirmation dialog): a misclick must not cut devices off."""
    user_id = require_user().id
    if request.form.get("confirm") != "yes":
        raise ValidationError("confirm that the old link should stop working")
    with unit() as session:
        user = session.get(User, user_id)
        assert user is not None
        subs.regenerate(session, user)
    return redirect(url_for("dashboard.show", notice="dashboard.regenerated"))
