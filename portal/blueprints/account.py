"""The profile page: alias, password, and e-mail changes that need re-verification."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, redirect, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from portal.pages import field, message, page, send_mail
from portal.session_auth import LoginRequired, issue, require_user, set_session_cookie
from portal.site import client_ip, public_base
from portal.state import portal, unit
from vpanel_core import ratelimit
from vpanel_core.errors import DomainError
from vpanel_core.models import User
from vpanel_core.services import accounts

bp = Blueprint("account", __name__)


def _profile_error(exc: DomainError) -> Response:
    return page("profile.html", status=exc.http_status, error=exc, user=require_user())


@bp.get("/profile")
def profile() -> Response:
    return page("profile.html", user=require_user())


@bp.post("/profile/alias")
def alias() -> BaseResponse:
    user_id = require_user().id
    try:
        with unit() as session:
            accounts.set_alias(session, _load(session, user_id), field("alias", 200))
    except DomainError as exc:
        return _profile_error(exc)
    return redirect(url_for("account.profile", notice="profile.saved"))


@bp.post("/profile/password")
def password() -> BaseResponse:
    user_id = require_user().id
    try:
        with unit() as session:
            user = _load(session, user_id)
            accounts.change_password(session, user, field("current"), field("new"))
    except DomainError as exc:
        return _profile_error(exc)
    # The password fingerprint in every old session no longer matches: they are all over.
    # This browser gets a fresh session so the user stays logged in here.
    token, claims = issue(portal().config, user)
    response = redirect(url_for("account.profile", notice="profile.password_changed"))
    set_session_cookie(response, token, claims)
    return response


@bp.post("/profile/email")
def email() -> Response:
    user_id = require_user().id
    limits = portal().config.limits
    try:
        with unit() as session:
            ratelimit.hit(session, "mail-ip", client_ip(), limits.mail)
        with unit() as session:
            user = _load(session, user_id)
            if not accounts.verify_password_of(user, field("password")):
                raise accounts.InvalidCredentials()
            token, address = accounts.request_email_change(session, user, field("email", 320))
    except DomainError as exc:
        return _profile_error(exc)
    send_mail(address, "email", f"{public_base()}/profile/email/{token}")
    return message("profile.email_section", "profile.email_sent", email=address)


@bp.get("/profile/email/<token>")
def confirm_email(token: str) -> BaseResponse:
    """Opened from the mail, maybe in another browser: the token itself is the proof."""
    with unit() as session:
        accounts.confirm_email_change(session, token)
    return redirect(url_for("account.profile", notice="profile.email_changed"))


def _load(session: Session, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None:  # deleted by an admin while this page was open
        raise LoginRequired()
    return user
