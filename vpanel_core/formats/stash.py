"""Stash: a Clash dialect with every modern protocol; Hysteria2 keys differ (Xboard's Stash.php)."""

from __future__ import annotations

from vpanel_core.formats.base import SubscriptionFormat, sane
from vpanel_core.formats.clash_meta import (
    AUTO_GROUP,
    PROXY_GROUP,
    clash_document,
    mihomo_proxy,
)
from vpanel_core.formats.options import FormatOptions, Selection
from vpanel_core.proxies import ClientProxy, Protocol


class StashFormat(SubscriptionFormat):
    name = "stash"
    content_type = "text/yaml; charset=utf-8"
    file_extension = "yaml"
    reserved_names = frozenset({PROXY_GROUP, AUTO_GROUP, "DIRECT", "REJECT", "GLOBAL"})

    def supports(self, proxy: ClientProxy) -> bool:
        return sane(proxy)

    def render(self, selection: Selection, options: FormatOptions) -> bytes:
        entries = []
        for p in selection.proxies:
            entry = mihomo_proxy(p)
            if p.protocol is Protocol.HYSTERIA2:
                entry["auth"] = entry.pop("password")
            entries.append(entry)
        return clash_document(entries, selection, options, self.name)
