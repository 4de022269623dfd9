"""One-click import deep links for the mainstream clients (formats.md §6).

Each client gets the link of the format it reads best, so importing never depends on
User-Agent detection.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True, slots=True)
class ImportLink:
    client: str
    label: str
    url: str


def _enc(value: str) -> str:
    return quote(value, safe="")


def import_links(
    *, subscription: str, formats: dict[str, str], clash_yaml: str, sing_box_json: str, name: str
) -> list[ImportLink]:
    qx_resource = json.dumps({"server_remote": [f"{formats['quantumult_x']}, tag={name}"]})
    rocket = base64.b64encode(formats["shadowrocket"].encode()).decode()
    return [
        ImportLink(
            "clash", "Clash Verge / mihomo", f"clash://install-config?url={_enc(clash_yaml)}"
        ),
        ImportLink(
            "sing-box",
            "sing-box",
            f"sing-box://import-remote-profile?url={_enc(sing_box_json)}#{_enc(name)}",
        ),
        ImportLink(
            "shadowrocket", "Shadowrocket", f"shadowrocket://add/sub://{rocket}?remark={_enc(name)}"
        ),
        ImportLink(
            "v2rayng",
            "v2rayNG",
            f"v2rayng://install-config?url={_enc(formats['links'])}#{_enc(name)}",
        ),
        ImportLink("hiddify", "Hiddify", f"hiddify://import/{subscription}#{_enc(name)}"),
        ImportLink("stash", "Stash", f"stash://install-config?url={_enc(formats['stash'])}"),
        ImportLink(
            "quantumult-x",
            "Quantumult X",
            f"quantumult-x:///add-resource?remote-resource={_enc(qx_resource)}",
        ),
        ImportLink("surge", "Surge", f"surge:///install-config?url={_enc(formats['surge'])}"),
    ]
