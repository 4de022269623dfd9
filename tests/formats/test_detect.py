"""User-Agent -> format, with the real UA strings from formats.md §7."""

from __future__ import annotations

import pytest

from vpanel_core.formats import (
    DEFAULT_RULES,
    InvalidRule,
    UnknownFormat,
    choose_format,
    dump_rules,
    load_rules,
)

UA_TABLE = [
    ("ClashforWindows/0.20.39", "clash"),
    (
        "ClashX/1.118.0 (com.west2online.ClashX; build:1.118.0; macOS 10.15.7) Alamofire/5.8.0",
        "clash",
    ),
    ("clash-verge/v2.4.2", "clash_meta"),
    ("clash-verge/v1.3.8", "clash_meta"),
    ("clash.meta/v1.19.32", "clash_meta"),
    ("ClashMetaForAndroid/2.8.9.Meta", "clash_meta"),
    ("ClashX Meta/v1.4.7 (com.metacubex.ClashX.meta; build:1.4.7)", "clash_meta"),
    ("FlClash/v0.8.80 clash-verge Platform/android", "clash_meta"),
    ("Mihomo Party/1.7.6", "clash_meta"),
    ("NekoBox/Android/1.3.9 (Prefer ClashMeta Format)", "clash_meta"),
    ("Stash/2.4.7 Clash/1.9.0", "stash"),
    ("Shadowrocket/2070 CFNetwork/1325.0.1 Darwin/21.1.0", "shadowrocket"),
    ("Shadowrocket/2.2.65", "shadowrocket"),
    ("Surge iOS/3004", "surge"),
    ("Surge Mac/2690", "surge"),
    ("Quantumult%20X/1.0.29 (iPhone14,5; iOS 15.4.1)", "quantumult_x"),
    ("Loon/3.2.1 CFNetwork/1494.0.7 Darwin/23.4.0", "loon"),
    ("SFA/1.11.9 (584; sing-box 1.11.9; language en_US)", "sing_box"),
    ("SFI (sing-box 1.12.0; language en_US)", "sing_box"),
    ("SFM (sing-box 1.12.0; language de_DE)", "sing_box"),
    ("SFI/1.11.0 (1; sing-box 1.11.0)", "sing_box"),
    ("v2rayN/7.10.5", "links"),
    ("v2rayNG/1.10.16", "links"),
    ("HiddifyNext/2.5.7 (android) like ClashMeta v2ray sing-box", "sing_box"),
    ("Streisand/1.6.38", "links"),
    ("Happ/1.5.2", "links"),
    (
        "Karing/1.2.22.2502 platform/windows;mihomo/1.19.27;clash-verge;FLClash;ClashMeta;"
        "v2ray;sing-box 1.13.0;NekoBox/Android/1.4.1 (Prefer ClashMeta Format);HiddifyNext",
        "sing_box",
    ),
]


@pytest.mark.parametrize(("ua", "expected"), UA_TABLE, ids=[ua[:24] for ua, _ in UA_TABLE])
def test_real_user_agents_get_their_format(ua, expected):
    assert choose_format(None, ua) == expected


def test_explicit_format_wins_over_user_agent():
    assert choose_format("sing_box", "ClashforWindows/0.20.39") == "sing_box"


def test_unknown_explicit_format_is_rejected_with_code():
    with pytest.raises(UnknownFormat) as exc:
        choose_format("clash_royale", "v2rayN/7.0")
    assert exc.value.code == "INVALID_FORMAT"


@pytest.mark.parametrize("ua", [None, "", "curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64)"])
def test_unknown_or_missing_user_agent_gets_links(ua):
    assert choose_format(None, ua) == "links"


def test_invalid_rule_regex_raises_clear_error():
    with pytest.raises(InvalidRule) as exc:
        load_rules([{"pattern": "^(Clash", "format": "clash"}])
    assert exc.value.code == "INVALID_UA_RULE"
    assert "invalid regular expression" in str(exc.value)


@pytest.mark.parametrize(
    "bad",
    [{"pattern": "^x", "format": "nope"}, {"pattern": 1, "format": "links"}, "not a dict"],
)
def test_rule_with_unknown_format_or_wrong_shape_is_rejected(bad):
    with pytest.raises(InvalidRule):
        load_rules([bad])


def test_rules_survive_save_and_load():
    assert load_rules(dump_rules(DEFAULT_RULES)) == DEFAULT_RULES


def test_operator_rules_are_tried_in_order():
    rules = load_rules(
        [{"pattern": "^MyApp", "format": "surge"}, {"pattern": "App", "format": "loon"}]
    )
    assert choose_format(None, "MyApp/1.0", rules) == "surge"
    assert choose_format(None, "OtherApp/1.0", rules) == "loon"
