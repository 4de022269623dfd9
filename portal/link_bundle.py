"""Everything a page shows about one subscription link: URLs, imports and its QR code."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from portal.qr import qr_svg
from vpanel_core import links
from vpanel_core.import_links import ImportLink, import_links
from vpanel_core.models import Subscription


@dataclass(frozen=True, slots=True)
class LinkBundle:
    subscription: str
    short: str
    clash_yaml: str
    sing_box_json: str
    formats: dict[str, str]
    imports: list[ImportLink]
    qr: Markup


def link_bundle(base: str, sub: Subscription, name: str) -> LinkBundle:
    main = links.subscription_url(base, sub)
    formats = links.format_urls(base, sub)
    clash_yaml = f"{base.rstrip('/')}/sub/{sub.token}.yaml"
    sing_box_json = f"{base.rstrip('/')}/sub/{sub.token}.json"
    return LinkBundle(
        subscription=main,
        short=links.short_url(base, sub),
        clash_yaml=clash_yaml,
        sing_box_json=sing_box_json,
        formats=formats,
        imports=import_links(
            subscription=main,
            formats=formats,
            clash_yaml=clash_yaml,
            sing_box_json=sing_box_json,
            name=name,
        ),
        qr=qr_svg(main),
    )
