"""Subscription format engine: one generator per client format, UA detection, parsers.

Usage: `get_format(choose_format(explicit, ua)).generate(proxies, FormatOptions(...))`.
"""

from vpanel_core.formats.base import SubscriptionFormat
from vpanel_core.formats.detect import DEFAULT_RULES, UaRule, choose_format, dump_rules, load_rules
from vpanel_core.formats.errors import FormatError, InvalidRule, ParseError, UnknownFormat
from vpanel_core.formats.options import FormatOptions, UserInfo
from vpanel_core.formats.registry import DEFAULT_FORMAT, FORMATS, get_format

__all__ = [
    "DEFAULT_FORMAT",
    "DEFAULT_RULES",
    "FORMATS",
    "FormatError",
    "FormatOptions",
    "InvalidRule",
    "ParseError",
    "SubscriptionFormat",
    "UaRule",
    "UnknownFormat",
    "UserInfo",
    "choose_format",
    "dump_rules",
    "get_format",
    "load_rules",
]
