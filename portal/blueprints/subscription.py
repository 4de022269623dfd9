"""Public subscription endpoints: the links proxy clients fetch, no login, token-based."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from flask import Blueprint, Response, g, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from portal.link_bundle import link_bundle
from portal.serving import Entry, Pending, variant
from portal.site import base_url, client_ip, operator_settings, prefers_html, user_agent
from portal.state import portal, unit
from portal.subscription_headers import disposition, header_text, usage_line
from vpanel_core import ratelimit, settings
from vpanel_core.client_view import user_proxies
from vpanel_core.entitlement import Entitlement
from vpanel_core.errors import DomainError, ValidationError
from vpanel_core.formats import FormatOptions, UserInfo, get_format
from vpanel_core.formats.detect import choose_format
from vpanel_core.models import Subscription, User
from vpanel_core.proxies import Protocol
from vpanel_core.services import subscriptions as subs
from vpanel_core.subscription_errors import SubscriptionNotFound
from vpanel_core.timeutil import utcnow

bp = Blueprint("subscription", __name__)


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
    return serve("token", token, forced=None)


@bp.get("/s/<path:code>")
def by_short_code(code: str) -> BaseResponse:
    return serve("short_code", code, forced=None)


@bp.get("/sub/<path:token>.yaml")
def clash_yaml(token: str) -> BaseResponse:
    return serve("token", token, forced="clash_meta")


@bp.get("/sub/<path:token>.json")
def sing_box_json(token: str) -> BaseResponse:
    return serve("token", token, forced="sing_box")


@bp.get("/sub/<path:junk>")
def junk_path(junk: str) -> BaseResponse:
    """Paths without a known extension answer exactly like an unknown token."""
    return serve("token", "", forced=None)


def serve(column: str, value: str, forced: str | None) -> BaseResponse:
    """The full path: one read (link, user, ledger markers; the rest from `ServingCache`).

    Runs when the lean path (portal/serving.py) cannot answer from memory, and leaves it
    what it needs to answer the next identical fetch. The fetch counts against the
    address's rate limit in memory (shared through the database once a second) and is
    spooled as an access before any answer leaves. Only a miss (unknown token) writes
    here: its counter is what stops token guessing, in every process at once.
    """
    wanted = parse_request(forced)
    if wanted.browser:
        g.html_errors = True
    state = portal()
    limits = state.config.limits
    ip, ua, now = client_ip(), user_agent(), utcnow()
    checked = time.monotonic()
    failure: DomainError | None = None
    link: subs.Link | None = None
    with unit() as session:
        # Refuse early (reads only) when guessing already used up the miss limit.
        ratelimit.check(session, "sub-miss", ip, limits.subscription_miss, now)
        state.lean.limiter.hit(ip, limits.subscription, now)
        try:
            link = subs.find_link(session, column, value)
        except SubscriptionNotFound as exc:
            failure = exc
        else:
            values = state.serving.settings(session, operator_settings)
            tz = settings.zone(str(values["timezone"]))
            ent, usage, changed = state.serving.entitlement(session, link, tz, now)
            error = subs.STATUS_ERRORS.get(ent.status)
            if error is not None:
                failure = error()
            elif wanted.browser:
                sub = session.get_one(Subscription, link.subscription_id)
                response = browser_page(subs.state(session, sub, now), values)
            else:
                fleet = state.serving.fleet(session)
                response = client_response(link, ent, usage, changed, wanted, values, ua, fleet)
                state.lean.remember(
                    request.environ,
                    Pending(
                        (column, value),
                        variant(request.environ, forced, state.config.public_url),
                        Entry(
                            link,
                            ent.expiry,
                            ent.allowance,
                            ent.used,
                            ent.period_start,
                            values,
                            fleet,
                            checked,
                            checked,
                            checked,
                        ),
                    ),
                )
    if link is None:
        state.lean.limiter.note_miss(ip)
        with unit() as session:
            ratelimit.hit(session, "sub-miss", ip, limits.subscription_miss, now)
    else:
        state.lean.record(link.subscription_id, ip, ua, now)
    if failure is not None:
        raise failure
    return response


def client_response(
    link: subs.Link,
    ent: Entitlement,
    usage: subs.Usage,
    changed_at: datetime,
    wanted: Request,
    values: dict[str, Any],
    ua: str,
    fleet: subs.Fleet,
) -> BaseResponse:
    fmt = get_format(choose_format(wanted.format, ua))
    base = base_url(values)
    title = str(values["site_name"])
    options = FormatOptions(
        protocols=wanted.protocols,
        user=UserInfo(
            upload=usage.upload,
            download=usage.download,
            total=ent.allowance,
            expire=ent.expiry,
            title=title,
        ),
        subscription_url=f"{base}/api/subscription/{link.token}",
    )
    # The fleet version and the user's credentials determine the proxies exactly, so a
    # cached body is found without building (or keeping in the key) 200 proxy objects.
    user = cast(User, link)  # duck-typed: the fields user_proxies reads
    body, digest = portal().cache.get_or_generate_digested(
        link.user_id,
        fmt.name,
        subs.content_version(fleet, user),
        options,
        lambda opts: fmt.generate(user_proxies(fleet.nodes, user), opts),
    )
    info = usage_line(ent, usage)
    headers = [
        ("Content-Type", fmt.content_type),
        ("Subscription-Userinfo", info),
        ("Profile-Update-Interval", str(int(values["profile_update_interval_hours"]))),
        ("Content-Disposition", disposition(title, fmt.file_extension)),
        ("Profile-Title", header_text(title)),
        ("Profile-Web-Page-Url", f"{base}/dashboard"),
    ]
    if values.get("support_url"):
        headers.append(("Support-Url", str(values["support_url"])))
    if values.get("announce"):
        headers.append(("Announce", header_text(str(values["announce"])[:200])))
    headers.append(("Cache-Control", "private, no-cache"))
    headers.append(("Vary", "User-Agent, Accept"))
    response = Response(body, headers=headers)
    # The usage header is part of what the client shows, so it is part of the version;
    # the body enters through its digest, computed once when it was rendered.
    version = f"{fmt.name}\0{info}\0".encode() + digest
    response.set_etag(hashlib.sha256(version).hexdigest()[:32])
    last = fleet.changed_at
    response.last_modified = changed_at if last is None or last < changed_at else last
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
