"""dump_yaml (the Clash / Clash Meta / Stash emitter): what it writes loads back unchanged.

Checked with both PyYAML loaders, the pure-Python one and libyaml's (YAML 1.1);
mihomo's go-yaml (YAML 1.2) is checked in test_real_client_checks.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.formats.samples import TRICKY_STRINGS
from vpanel_core.formats.clash_meta import TEST_URL
from vpanel_core.formats.yaml_text import dump_yaml

_LOADERS = [yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)]

_chars = st.one_of(
    st.characters(codec="utf-8"),  # every code point but surrogates
    st.sampled_from(" \t\r\n\x00\x1b\x7f\x85\x9f\xa0\u2028\u2029\ufeff\ufffe\uffff"),
    st.sampled_from("-?:,[]{}#&*!|>'\"%@`~.=<\\/_+0123456789eExXoObB"),
)
_tricky = st.sampled_from(TRICKY_STRINGS)
_strings = st.one_of(
    st.text(_chars, max_size=12),
    _tricky,
    st.lists(_tricky, min_size=2, max_size=3).map("".join),  # " yes", "1:20 #c"…
    st.lists(_tricky, min_size=2, max_size=3).map(" ".join),
    st.text(_chars, min_size=120, max_size=200),  # keys libyaml would write explicitly
    st.text(_chars, min_size=11, max_size=14).map(lambda s: s * 100),  # over 1,024 chars
)
_values = st.recursive(
    st.one_of(_strings, st.integers(), st.booleans()),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_strings, inner, max_size=4),
    max_leaves=24,
)
_docs = st.dictionaries(_strings, _values, max_size=6)


def _assert_loads_back(doc: dict[str, Any]) -> None:
    text = dump_yaml(doc)
    text.encode()  # strict UTF-8: the formats send it as bytes
    for loader in _LOADERS:
        loaded = yaml.load(text, Loader=loader)
        # json text also tells True from 1 and checks the key order
        assert json.dumps(loaded) == json.dumps(doc), loader.__name__


@settings(max_examples=400, deadline=None)
@given(doc=_docs)
def test_dump_yaml_loads_back_as_the_same_document(doc):
    """Property: yaml.safe_load(dump_yaml(doc)) == doc (types and key order included) for
    any JSON-like doc of dicts, lists, str, int and bool, whose strings hold controls,
    breaks, non-characters, YAML keywords, numbers, indicators and edge spaces."""
    _assert_loads_back(doc)


@pytest.mark.parametrize(
    "s", ["y", "Y", "n", "N", "yes", "No", "ON", "off", "True", "FALSE", "null", "NULL", "~"]
)
def test_dump_yaml_quotes_every_yaml_1_1_bool_and_null(s):
    """PyYAML reads `y` and `n` as strings, but YAML 1.1 (and go-yaml decoding into a
    bool) does not: the round-trip property alone cannot see these."""
    assert dump_yaml({"k": s}) == f'k: "{s}"\n'


@pytest.mark.parametrize("s", TRICKY_STRINGS, ids=repr)
def test_dump_yaml_round_trips_each_tricky_string_as_key_value_and_item(s):
    _assert_loads_back({s: s, "list": [s, [s], {s: [s]}], "k" * 130 + s: {s: s}})


def test_dump_yaml_keeps_profile_values_plain_and_quotes_lookalikes():
    doc = {
        "server": "edge.example.com",
        "path": "/ws",
        "url": TEST_URL,
        "rule": "IP-CIDR,10.0.0.0/8,DIRECT,no-resolve",
        "password": "p@ss:word",
        "flag": "yes",
        "time": "1:20",
        "short-id": "0123abcd",
        "name": "🇩🇪 Node\u2028",
        "bom": "\ufeffx",  # PyYAML reads it raw mid-stream; not every parser does
        "pad": " x",
    }
    assert dump_yaml(doc) == (
        "server: edge.example.com\n"
        "path: /ws\n"
        f"url: {TEST_URL}\n"
        "rule: IP-CIDR,10.0.0.0/8,DIRECT,no-resolve\n"
        "password: p@ss:word\n"
        'flag: "yes"\n'
        'time: "1:20"\n'
        'short-id: "0123abcd"\n'
        'name: "🇩🇪 Node\\u2028"\n'
        'bom: "\\uFEFFx"\n'
        'pad: " x"\n'
    )


def test_dump_yaml_writes_block_style_like_pyyaml():
    doc = {"a": [{"b": [1, []], "c": {}}, [True, "x"]], "d": {"e": {"f": False}}, "g": -3}
    assert dump_yaml(doc) == (
        "a:\n- b:\n  - 1\n  - []\n  c: {}\n- - true\n  - x\nd:\n  e:\n    f: false\ng: -3\n"
    )
    assert dump_yaml({}) == "{}\n"


def test_dump_yaml_writes_long_keys_explicitly():
    key = "k" * 129
    assert dump_yaml({key: [1], "x": {key: 2}}) == f"? {key}\n:\n- 1\nx:\n  ? {key}\n  : 2\n"


@pytest.mark.parametrize("value", [1.5, None, (1,), b"x"])
def test_dump_yaml_rejects_what_a_profile_never_holds(value):
    with pytest.raises(TypeError, match="cannot dump"):
        dump_yaml({"k": value})


@pytest.mark.parametrize("doc", [{"\ud800": 1}, {"k": ["ok", {"x": "a\udfffb"}]}])
def test_dump_yaml_refuses_lone_surrogates(doc):
    """No YAML parser can read one back (libyaml and go-yaml refuse `\\ud800`), and the
    profile could not be sent as UTF-8 anyway."""
    with pytest.raises(ValueError, match="lone surrogate"):
        dump_yaml(doc)
