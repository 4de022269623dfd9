"""Pick a format from the client's User-Agent with an ordered, operator-editable rule list.

The first matching rule wins. Order matters: Karing, Hiddify and FlClash send Clash tokens
too (formats.md §7.3), so the specific clients come before the generic Clash rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vpanel_core.formats.errors import InvalidRule
from vpanel_core.formats.registry import DEFAULT_FORMAT, FORMATS, get_format


@dataclass(frozen=True, slots=True)
class UaRule:
    """`pattern` is searched case-insensitively in the User-Agent."""

    pattern: str
    format: str
    regex: re.Pattern[str]

    @classmethod
    def of(cls, pattern: str, fmt: str) -> UaRule:
        if fmt not in FORMATS:
            raise InvalidRule(f"rule {pattern!r}: unknown format {fmt!r}")
        try:
            regex = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise InvalidRule(f"rule {pattern!r}: invalid regular expression: {exc}") from None
        return cls(pattern, fmt, regex)


def load_rules(data: Iterable[Any]) -> tuple[UaRule, ...]:
    """Rules from stored settings: a list of `{"pattern": ..., "format": ...}`."""
    rules = []
    for i, item in enumerate(data):
        if not (
            isinstance(item, dict)
            and isinstance(item.get("pattern"), str)
            and isinstance(item.get("format"), str)
        ):
            raise InvalidRule(f"rule {i}: expected {{'pattern': str, 'format': str}}, got {item!r}")
        rules.append(UaRule.of(item["pattern"], item["format"]))
    return tuple(rules)


def dump_rules(rules: Iterable[UaRule]) -> list[dict[str, str]]:
    return [{"pattern": r.pattern, "format": r.format} for r in rules]


DEFAULT_RULES: tuple[UaRule, ...] = load_rules(
    [
        # composite UAs carrying Clash tokens: decide before any Clash rule
        {"pattern": r"^Karing", "format": "sing_box"},
        {"pattern": r"^Hiddify", "format": "sing_box"},
        {"pattern": r"^(SFA|SFI|SFM|SFT)\b", "format": "sing_box"},
        {"pattern": r"^NekoBox", "format": "clash_meta"},
        {"pattern": r"^Stash/", "format": "stash"},
        {"pattern": r"^Shadowrocket", "format": "shadowrocket"},
        {"pattern": r"^Surge", "format": "surge"},
        {"pattern": r"^Quantumult(%20| )X", "format": "quantumult_x"},
        {"pattern": r"^Loon", "format": "loon"},
        {
            "pattern": r"^(FlClash|clash-verge|clash-nyanpasu|clash\.meta|ClashX[ ._-]?Meta|"
            r"ClashMeta|Clash-Meta|mihomo|Mihomo Party|koala-clash|prizrak-box)",
            "format": "clash_meta",
        },
        {"pattern": r"^(ClashforWindows|ClashX|Clash)", "format": "clash"},
        {"pattern": r"^(v2rayNG?|Streisand|Happ|V2Box|FoXray)\b", "format": "links"},
        {"pattern": r"sing-box", "format": "sing_box"},
    ]
)


def choose_format(
    explicit: str | None, user_agent: str | None, rules: Sequence[UaRule] = DEFAULT_RULES
) -> str:
    """An explicit `?format=` always wins (and must exist); else the first matching rule;
    else plain share links, which every client can read."""
    if explicit:
        return get_format(explicit).name
    if user_agent:
        for rule in rules:
            if rule.regex.search(user_agent):
                return rule.format
    return DEFAULT_FORMAT
