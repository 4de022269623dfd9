"""Small helpers the HTML blueprints share: form fields, notices, safe redirects, mail."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Response, g, render_template, request

from portal import i18n
from portal.state import portal

#: notices a redirect may ask a page to show (?notice=key); anything else is ignored
NOTICES = frozenset(
    {
        "verify.done",
        "reset.done",
        "profile.saved",
        "profile.password_changed",
        "profile.email_changed",
        "dashboard.regenerated",
    }
)


def field(name: str, limit: int = 256) -> str:
    return request.form.get(name, "")[:limit]


def page(template: str, status: int = 200, **context: Any) -> Response:
    notice_key = request.args.get("notice", "")
    if notice_key in NOTICES and "notice" not in context:
        context["notice"] = i18n.translate(g.locale, notice_key)
    response = Response(render_template(template, **context), mimetype="text/html")
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def message(heading_key: str, message_key: str, status: int = 200, **values: Any) -> Response:
    return page(
        "message.html",
        status=status,
        heading=i18n.translate(g.locale, heading_key),
        message=i18n.translate(g.locale, message_key, **values),
    )


def safe_next(target: str | None) -> str | None:
    """Only same-site paths: a login link must never bounce the user to another host."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return None
    return target


def send_mail(to: str, kind: str, link: str) -> None:
    """Mail in the reader's current language; `kind` is verify, reset or email."""
    locale = g.get("locale", "en")
    portal().mailer.send(
        to,
        i18n.translate(locale, f"mail.{kind}.subject"),
        i18n.translate(locale, f"mail.{kind}.body", link=link),
    )
