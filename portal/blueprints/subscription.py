"""Public subscription endpoints: the links proxy clients fetch, no login, token-based."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, g, render_template, request
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from portal.link_bundle import link_bundle
from portal.site import base_url, client_ip, operator_settings, prefers_html, user_agent
from portal.state import portal, unit
from portal.subscription_headers import disposition, header_text, userinfo
from vpanel_core import links, ratelimit
from vpanel_core.client_view import user_proxies
from vpanel_core.errors import DomainError, ValidationError
from vpanel_core.formats import FormatOptions, UserInfo, get_format
from vpanel_core.formats.detect import choose_format
from vpanel_core.models import Subscription
from vpanel_core.proxies import Protocol
from vpanel_core.services import subscriptions as subs
from vpanel_core.subscription_errors import SubscriptionNotFound
from vpanel_core.timeutil import utcnow

bp = Blueprint("subscription", __name__)
Finder = Callable[[Session], Subscription]


@dataclass(frozen=True, slots=True)
class Request:
    """What the client asked for, checked before anything touches the database."""

    format: str | None
    protocols: frozenset[Protocol] | None
    browser: bool


def parse_request(forced: str | None) -> Request:
    explicit = forced or request.args.get("format") or None
    if explicit is not None:
        get_format(explicit)  # INVALID_FORMAT before any work
    raw = request.args.get("protocols", "")
    protocols = None
    if raw:
        try:
            protocols = frozenset(Protocol(p.strip().lower()) for p in raw.split(",") if p.strip())
        except ValueError:
            known = ", ".join(p.value for p in Protocol)
            raise ValidationError(f"unknown protocol in {raw[:64]!r}; known: {known}") from None
    return Request(explicit, protocols, explicit is None and prefers_html())


@bp.get("/api/subscription/<path:token>")
def by_token(token: str) -> BaseResponse:
    return serve(lambda s: subs.by_token(s, token), forced=None)


@bp.get("/s/<path:code>")
def by_short_code(code: str) -> BaseResponse:
    return serve(lambda s: subs.by_short_code(s, code), forced=None)


@bp.get("/sub/<path:token>.yaml")
def clash_yaml(token: str) -> BaseResponse:
    return serve(lambda s: subs.by_token(s, token), forced="clash_meta")


@bp.get("/sub/<path:token>.json")
def sing_box_json(token: str) -> BaseResponse:
    return serve(lambda s: subs.by_token(s, token), forced="sing_box")


@bp.get("/sub/<path:junk>")
def junk_path(junk: str) -> BaseResponse:
    """Paths without a known extension answer exactly like an unknown token."""
    return serve(lambda s: subs.by_token(s, ""), forced=None)


def serve(find: Finder, forced: str | None) -> BaseResponse:
    wanted = parse_request(forced)
    if wanted.browser:
        g.html_errors = True
    limits = portal().config.limits
    ip, ua, now = client_ip(), user_agent(), utcnow()
    # Writes go in short transactions of their own around a read-only middle: a write
    # transaction holds SQLite's database lock, and held across loading and rendering
    # 200 proxies it serialised every fetch (bench_serving: 72 req/s, p99 1.8 s).
    with unit() as session:
        ratelimit.check(session, "sub-miss", ip, limits.subscription_miss, now)
        ratelimit.hit(session, "sub", ip, limits.subscription, now)
    failure: DomainError | None = None
    with unit() as session:
        try:
            sub = find(session)
        except SubscriptionNotFound as exc:
            failure = exc
        else:
            current = subs.state(session, sub, now)
            try:
                subs.require_serviceable(current)
            except DomainError as exc:
                failure = exc
            else:
                values = operator_settings(session)
                if wanted.browser:
                    response = browser_page(current, values)
                else:
                    response = client_response(session, current, wanted, values, ua)
    with unit() as session:
        if isinstance(failure, SubscriptionNotFound):
            ratelimit.hit(session, "sub-miss", ip, limits.subscription_miss, now)
        else:
            subs.record_access(session, sub.id, ip, ua, now)
    if failure is not None:
        raise failure
    return response


def client_response(
    session: Session,
    current: subs.SubscriptionState,
    wanted: Request,
    values: dict[str, Any],
    ua: str,
) -> BaseResponse:
    fmt = get_format(choose_format(wanted.format, ua))
    fleet = subs.fleet(session)
    user = current.user
    base = base_url(values)
    title = str(values["site_name"])
    ent = current.entitlement
    options = FormatOptions(
        protocols=wanted.protocols,
        user=UserInfo(
            upload=current.usage.upload,
            download=current.usage.download,
            total=ent.allowance,
            expire=ent.expiry,
            title=title,
        ),
        subscription_url=links.subscription_url(base, current.subscription),
    )
    # The fleet version and the user's credentials determine the proxies exactly, so a
    # cached body is found without building (or keeping in the key) 200 proxy objects.
    body = portal().cache.get_or_generate(
        user.id,
        fmt.name,
        subs.content_version(fleet, user),
        options,
        lambda opts: fmt.generate(user_proxies(fleet.nodes, user), opts),
    )
    response = Response(body, content_type=fmt.content_type)
    headers = response.headers
    headers["Subscription-Userinfo"] = userinfo(current)
    headers["Profile-Update-Interval"] = str(int(values["profile_update_interval_hours"]))
    headers["Content-Disposition"] = disposition(title, fmt.file_extension)
    headers["Profile-Title"] = header_text(title)
    headers["Profile-Web-Page-Url"] = f"{base}/dashboard"
    if values.get("support_url"):
        headers["Support-Url"] = str(values["support_url"])
    if values.get("announce"):
        headers["Announce"] = header_text(str(values["announce"])[:200])
    headers["Cache-Control"] = "private, no-cache"
    headers["Vary"] = "User-Agent, Accept"
    # The usage header is part of what the client shows, so it is part of the version.
    version = f"{fmt.name}\0{headers['Subscription-Userinfo']}\0".encode() + body
    response.set_etag(hashlib.sha256(version).hexdigest()[:32])
    changed = [current.changed_at] + ([fleet.changed_at] if fleet.changed_at else [])
    response.last_modified = max(changed)
    return response.make_conditional(request)


def browser_page(current: subs.SubscriptionState, values: dict[str, Any]) -> BaseResponse:
    """Someone opened the link in a browser: show QR and import buttons, not base64."""
    title = str(values["site_name"])
    bundle = link_bundle(base_url(values), current.subscription, title)
    html = render_template("subscription_page.html", current=current, bundle=bundle, title=title)
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = "User-Agent, Accept"
    return response
