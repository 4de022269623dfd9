"""Public subscription URLs of a user, as the portal serves them."""

from __future__ import annotations

from urllib.parse import quote

from vpanel_core.models import Subscription

PER_FORMAT = (
    "links",
    "clash_meta",
    "clash",
    "sing_box",
    "shadowrocket",
    "surge",
    "quantumult_x",
    "stash",
    "loon",
    "sip008",
)


def subscription_url(portal_url: str, sub: Subscription) -> str:
    return f"{portal_url.rstrip('/')}/api/subscription/{sub.token}"


def short_url(portal_url: str, sub: Subscription) -> str:
    return f"{portal_url.rstrip('/')}/s/{sub.short_code}"


def format_urls(portal_url: str, sub: Subscription) -> dict[str, str]:
    base = subscription_url(portal_url, sub)
    return {name: f"{base}?format={quote(name)}" for name in PER_FORMAT}


def all_links(portal_url: str, sub: Subscription) -> dict[str, object]:
    base = portal_url.rstrip("/")
    return {
        "subscription": subscription_url(portal_url, sub),
        "short": short_url(portal_url, sub),
        "clash_yaml": f"{base}/sub/{sub.token}.yaml",
        "sing_box_json": f"{base}/sub/{sub.token}.json",
        "formats": format_urls(portal_url, sub),
    }
