"""Request facts the views share: client address, public base URL, operator settings."""

from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.state import portal, unit
from vpanel_core import settings
from vpanel_core.models import Setting


def client_ip() -> str:
    """The peer address (X-Forwarded-For only counts when trusted hops are configured)."""
    return (request.remote_addr or "unknown")[:64]


def user_agent() -> str:
    return request.headers.get("User-Agent", "")[:255]


def operator_settings(session: Session) -> dict[str, Any]:
    """All stored settings over the defaults, in one query."""
    stored = {row.key: row.value for row in session.scalars(select(Setting))}
    return {**settings.DEFAULTS, **stored, "_stored": frozenset(stored)}


def base_url(values: dict[str, Any]) -> str:
    """Configured public URL, else the operator's stored portal URL, else this request's root.

    Production sets VPANEL_PORTAL_URL so links in e-mails never follow a Host header.
    """
    configured = portal().config.public_url
    if configured:
        return configured.rstrip("/")
    if "portal_url" in values["_stored"]:
        return str(values["portal_url"]).rstrip("/")
    return request.url_root.rstrip("/")


def prefers_html() -> bool:
    """A browser opening the link: it names text/html itself (proxy clients send */* or
    nothing, and must get the subscription)."""
    return any(value == "text/html" and quality > 0 for value, quality in request.accept_mimetypes)


def public_base() -> str:
    """`base_url` for views that have no session open."""
    with unit() as session:
        return base_url(operator_settings(session))
