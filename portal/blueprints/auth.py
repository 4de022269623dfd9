"""Register (with captcha), confirm the e-mail, log in and out, reset a forgotten password."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Response, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.login_flow import attempt_login
from portal.mailer import MailFailed
from portal.pages import field, message, page, safe_next, send_mail
from portal.session_auth import current_user, end_session, issue, set_session_cookie
from portal.site import client_ip, public_base
from portal.state import portal, unit
from vpanel_core import ratelimit
from vpanel_core.errors import DomainError
from vpanel_core.models import User
from vpanel_core.services import accounts

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)


@bp.get("/register")
def register_form() -> Response:
    return page("register.html", captcha=portal().captcha.widget())


@bp.post("/register")
def register() -> Response:
    """A taken address gets the same answer as a new one (no account enumeration); its
    owner is told by mail instead, with a password-reset link."""
    state = portal()
    email, password = field("email", 320), field("password")
    with unit() as session:
        ratelimit.hit(session, "register", client_ip(), state.config.limits.register)
    kind, route = "verify", "verify"
    try:
        with unit() as session:
            state.captcha.verify(request.form, client_ip(), session)
            existing = accounts.find_by_email(session, email) if email.strip() else None
            if existing is not None and existing.email:
                accounts.check_new_password(password)
                user, kind, route = existing, "exists", "reset"
                token = accounts.issue_token(session, user, accounts.RESET)
            else:
                user = accounts.register(session, email, password)
                token = accounts.issue_token(session, user, accounts.VERIFY)
            address = user.email or ""
    except DomainError as exc:
        return page(
            "register.html",
            status=exc.http_status,
            error=exc,
            email=email,
            captcha=state.captcha.widget(),
        )
    # The account is committed first: a mail outage must not lose the registration
    # (the login page offers to send the link again).
    send_mail(address, kind, f"{public_base()}/{route}/{token}")
    return message("register.title", "register.sent", email=address)


@bp.get("/verify/<token>")
def verify(token: str) -> BaseResponse:
    with unit() as session:
        accounts.verify_email(session, token)
    return redirect(url_for("auth.login", notice="verify.done"))


@bp.post("/verify/resend")
def resend() -> Response:
    """Same answer whether or not the address has an unconfirmed account (no enumeration)."""
    _mail_link(accounts.VERIFY, "verify", lambda user: not user.email_verified)
    return message("verify.resend_title", "verify.resent")


def _mail_link(purpose: str, route: str, eligible: Callable[[User], bool]) -> None:
    """Rate-limited: e-mail a one-time link to the form's address if an eligible user has it."""
    email = field("email", 320)
    token = address = None
    with unit() as session:
        limits = portal().config.limits
        ratelimit.hit(session, "mail-ip", client_ip(), limits.mail)
        ratelimit.hit(session, "mail", email.strip().lower(), limits.mail)
        user = accounts.find_by_email(session, email)
        if user is not None and user.email and eligible(user):
            token, address = accounts.issue_token(session, user, purpose), user.email
    if token and address:
        _send_quietly(address, route, f"{public_base()}/{route}/{token}")


@bp.get("/login")
def login_form() -> BaseResponse:
    target = safe_next(request.args.get("next"))
    if current_user() is not None:
        return redirect(target or url_for("dashboard.show"))
    return page("login.html", next=target)


@bp.post("/login")
def login() -> BaseResponse:
    target = safe_next(request.args.get("next"))
    email = field("email", 320)
    try:
        user = attempt_login(email, field("password"))
    except DomainError as exc:
        response = page("login.html", status=exc.http_status, error=exc, email=email, next=target)
        if isinstance(exc, ratelimit.RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    token, claims = issue(portal().config, user)
    response_ok = redirect(target or url_for("dashboard.show"))
    set_session_cookie(response_ok, token, claims)
    return response_ok


@bp.post("/logout")
def logout() -> BaseResponse:
    response = redirect(url_for("auth.login"))
    end_session(response)
    return response


@bp.get("/forgot")
def forgot_form() -> Response:
    return page("forgot.html")


@bp.post("/forgot")
def forgot() -> Response:
    _mail_link(accounts.RESET, "reset", lambda _user: True)
    return message("forgot.title", "forgot.sent")


@bp.get("/reset/<token>")
def reset_form(token: str) -> Response:
    with unit() as session:
        accounts.peek_token(session, token, accounts.RESET)
    return page("reset.html")


@bp.post("/reset/<token>")
def reset(token: str) -> BaseResponse:
    try:
        with unit() as session:
            accounts.reset_password(session, token, field("password"))
    except accounts.LinkInvalid:
        raise
    except DomainError as exc:
        return page("reset.html", status=exc.http_status, error=exc)
    return redirect(url_for("auth.login", notice="reset.done"))


def _send_quietly(address: str, kind: str, link: str) -> None:
    """For answers that must not reveal whether an account exists, a mail outage is logged."""
    try:
        send_mail(address, kind, link)
    except MailFailed:
        log.warning("could not send the %s mail", kind)
