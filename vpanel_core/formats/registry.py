"""Format name -> generator. Adding a client = one module + one line here."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from vpanel_core.formats.base import SubscriptionFormat
from vpanel_core.formats.clash import ClashFormat
from vpanel_core.formats.clash_meta import ClashMetaFormat
from vpanel_core.formats.errors import UnknownFormat
from vpanel_core.formats.links import LinksFormat
from vpanel_core.formats.loon import LoonFormat
from vpanel_core.formats.quantumult_x import QuantumultXFormat
from vpanel_core.formats.shadowrocket import ShadowrocketFormat
from vpanel_core.formats.sing_box import SingBoxFormat
from vpanel_core.formats.sip008 import Sip008Format
from vpanel_core.formats.stash import StashFormat
from vpanel_core.formats.surge import SurgeFormat

DEFAULT_FORMAT = "links"

FORMATS: Mapping[str, SubscriptionFormat] = MappingProxyType(
    {
        f.name: f
        for f in (
            LinksFormat(),
            ShadowrocketFormat(),
            ClashFormat(),
            ClashMetaFormat(),
            SingBoxFormat(),
            SurgeFormat(),
            QuantumultXFormat(),
            StashFormat(),
            LoonFormat(),
            Sip008Format(),
        )
    }
)


def get_format(name: str) -> SubscriptionFormat:
    """The generator for `name`; raises `UnknownFormat` (code INVALID_FORMAT) otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise UnknownFormat(f"unknown subscription format {name!r}; known: {known}") from None
