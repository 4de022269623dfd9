"""SIP008 online configuration: JSON list of Shadowsocks servers (Outline, shadowsocks apps)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from vpanel_core.formats.base import SubscriptionFormat, sane
from vpanel_core.formats.options import FormatOptions, Selection
from vpanel_core.proxies import ClientProxy, Protocol

_NAMESPACE = uuid.UUID("5f1d7c6e-9a44-4b4e-8f3a-2b8f2a0f6c11")


class Sip008Format(SubscriptionFormat):
    name = "sip008"
    content_type = "application/json; charset=utf-8"
    file_extension = "json"

    def supports(self, proxy: ClientProxy) -> bool:
        return proxy.protocol is Protocol.SHADOWSOCKS and sane(proxy)

    def render(self, selection: Selection, options: FormatOptions) -> bytes:
        doc: dict[str, Any] = {
            "version": 1,
            "servers": [
                {
                    # SIP008 wants a UUID; derive a stable one from our id.
                    "id": str(uuid.uuid5(_NAMESPACE, p.id)),
                    "remarks": p.name,
                    "server": p.server,
                    "server_port": p.port,
                    "password": p.password,
                    "method": p.method,
                }
                for p in selection.proxies
            ],
        }
        user = options.user
        if user is not None:
            doc["bytes_used"] = user.upload + user.download
            if user.bytes_left is not None:
                doc["bytes_remaining"] = user.bytes_left
        return json.dumps(doc, ensure_ascii=False, indent=2).encode()
