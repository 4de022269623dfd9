"""The shared selection step: filters, renaming, unique names, disabled proxies."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from tests.formats.samples import MATRIX
from vpanel_core.formats import FORMATS, FormatOptions, UserInfo, get_format
from vpanel_core.formats.options import select
from vpanel_core.formats.parse import parse_links
from vpanel_core.proxies import Protocol

ALL = MATRIX


def _names(opts: FormatOptions, proxies=ALL) -> list[str]:
    return [p.name for p in parse_links(get_format("links").generate(proxies, opts))]


def test_protocol_filter_keeps_only_those_protocols():
    opts = FormatOptions(protocols=frozenset({Protocol.TUIC, Protocol.HYSTERIA2}))
    assert _names(opts) == ["hy2", "hy2-plain", "tuic"]


def test_include_and_exclude_ids():
    opts = FormatOptions(
        include_ids=frozenset({"trojan", "tuic", "anytls"}), exclude_ids=frozenset({"tuic"})
    )
    assert _names(opts) == ["trojan", "anytls"]


def test_disabled_proxies_are_left_out():
    proxies = [replace(ALL[0], enabled=False), ALL[1]]
    assert _names(FormatOptions(), proxies) == [ALL[1].name]


def test_duplicate_names_get_numbered_suffixes():
    proxies = [replace(p, name="Node") for p in ALL[:3]]
    assert _names(FormatOptions(), proxies) == ["Node", "Node 2", "Node 3"]


def test_proxy_named_like_a_group_is_renamed():
    proxy = replace(ALL[0], name="AUTO")
    selection = select(
        [proxy], FormatOptions(), lambda p: True, reserved=FORMATS["clash_meta"].reserved_names
    )
    assert selection.proxies[0].name == "AUTO 2"


def test_rename_template_substitutes_every_variable():
    user = UserInfo(
        upload=1024**3,
        download=1024**3,
        total=5 * 1024**3,
        expire=datetime(2030, 1, 11, tzinfo=UTC),
    )
    opts = FormatOptions(
        rename="{country} {name} [{protocol}] {data_left} {days_left}d {expire_date}",
        user=user,
        today=date(2030, 1, 1),
    )
    proxy = replace(ALL[0], country="DE")
    assert _names(opts, [proxy]) == ["DE vless-reality [vless] 3.00 GB 10d 2030-01-11"]


def test_rename_template_for_unlimited_user_and_unknown_variable():
    opts = FormatOptions(rename="{name} {data_left} {days_left} {nope}", user=UserInfo())
    assert _names(opts, [ALL[0]]) == ["vless-reality ∞ ∞ {nope}"]


def test_rename_template_cannot_reach_attributes():
    assert _names(FormatOptions(rename="{name.__class__}"), [ALL[0]]) == ["{name.__class__}"]


def test_renamed_duplicates_are_unique():
    opts = FormatOptions(rename="{protocol}")
    assert _names(opts, [ALL[0], ALL[2]]) == ["vless", "vless 2"]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_honours_the_filters(fmt):
    body = get_format(fmt).generate(ALL, FormatOptions(exclude_ids=frozenset(p.id for p in ALL)))
    text = body.decode()
    if fmt in ("links", "shadowrocket"):
        text = base64.b64decode(body).decode()
    assert "example.com" not in text
