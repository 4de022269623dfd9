"""The response headers proxy clients read from a subscription (formats.md §5)."""

from __future__ import annotations

import base64
import re
from urllib.parse import quote

from vpanel_core.entitlement import Entitlement
from vpanel_core.services.subscriptions import SubscriptionState, Usage

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._ -]+")


def header_text(value: str) -> str:
    """Plain ASCII as is; anything else as `base64:<standard base64 of UTF-8>`."""
    if value.isascii() and value.isprintable():
        return value
    return "base64:" + base64.b64encode(value.encode()).decode()


def userinfo(current: SubscriptionState) -> str:
    return usage_line(current.entitlement, current.usage)


def usage_line(ent: Entitlement, usage: Usage) -> str:
    total = ent.allowance or 0  # 0 = unlimited for every client that reads it
    expire = int(ent.expiry.timestamp()) if ent.expiry else 0
    return f"upload={usage.upload}; download={usage.download}; total={total}; expire={expire}"


def disposition(title: str, extension: str) -> str:
    """Quoted ASCII filename (Hiddify needs the quotes) plus RFC 5987 for the real name."""
    ascii_name = _UNSAFE_FILENAME.sub("_", title).strip(" ._") or "subscription"
    value = f'attachment; filename="{ascii_name}.{extension}"'
    if not title.isascii():
        value += f"; filename*=UTF-8''{quote(f'{title}.{extension}', safe='')}"
    return value
