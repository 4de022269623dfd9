"""Original Clash (Dreamacro / Premium): VMess, Trojan and classic Shadowsocks only.

Still what Clash for Windows and ClashX run; anything newer is skipped with a comment.
"""

from __future__ import annotations

from vpanel_core.formats.base import SS_AEAD_METHODS, SubscriptionFormat, sane
from vpanel_core.formats.clash_meta import (
    AUTO_GROUP,
    PROXY_GROUP,
    clash_document,
    mihomo_proxy,
)
from vpanel_core.formats.options import FormatOptions, Selection
from vpanel_core.proxies import ClientProxy, Protocol, Transport

_META_ONLY_KEYS = ("client-fingerprint", "reality-opts", "flow")


class ClashFormat(SubscriptionFormat):
    name = "clash"
    content_type = "text/yaml; charset=utf-8"
    file_extension = "yaml"
    reserved_names = frozenset({PROXY_GROUP, AUTO_GROUP, "DIRECT", "REJECT", "GLOBAL"})

    def supports(self, proxy: ClientProxy) -> bool:
        if proxy.protocol is Protocol.SHADOWSOCKS:
            return proxy.method in SS_AEAD_METHODS
        return (
            proxy.protocol in (Protocol.VMESS, Protocol.TROJAN)
            and proxy.transport is not Transport.HTTPUPGRADE
            and sane(proxy)
        )

    def render(self, selection: Selection, options: FormatOptions) -> bytes:
        entries = []
        for p in selection.proxies:
            entry = mihomo_proxy(p)
            for key in _META_ONLY_KEYS:
                entry.pop(key, None)
            if p.protocol is Protocol.VMESS:
                entry.pop("alpn", None)
            entries.append(entry)
        return clash_document(entries, selection, options, self.name)
