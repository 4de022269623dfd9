"""Shadowrocket: the base64 link body with a leading STATUS line showing traffic and expiry."""

from __future__ import annotations

import base64

from vpanel_core.formats.base import SubscriptionFormat, sane
from vpanel_core.formats.links import share_link
from vpanel_core.formats.options import UNLIMITED, FormatOptions, Selection, UserInfo
from vpanel_core.proxies import ClientProxy

_GB = 1024**3


def status_line(user: UserInfo) -> str:
    total = UNLIMITED if user.total is None else f"{user.total / _GB:.2f}"
    expires = user.expire.date().isoformat() if user.expire else UNLIMITED
    return (
        f"STATUS=🚀↑:{user.upload / _GB:.2f}GB,↓:{user.download / _GB:.2f}GB,"
        f"TOT:{total}GB💡Expires:{expires}"
    )


class ShadowrocketFormat(SubscriptionFormat):
    name = "shadowrocket"
    content_type = "text/plain; charset=utf-8"
    file_extension = "txt"

    def supports(self, proxy: ClientProxy) -> bool:
        return sane(proxy)

    def render(self, selection: Selection, options: FormatOptions) -> bytes:
        lines = [share_link(p) for p in selection.proxies]
        if options.user is not None:
            lines.insert(0, status_line(options.user))
        return base64.b64encode("\n".join(lines).encode())
