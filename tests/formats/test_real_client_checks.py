"""Generated configs are accepted by the real clients: `sing-box check` and `mihomo -t`.

REALITY/uTLS: the PyPI sing-box build has no uTLS, so `sing-box check` rejects any config
with a `utls` or `reality` block ("uTLS, which is required by reality is not included in
this build"). For those we (1) validate the *whole* config, reality block included,
against the JSON schema printed by this very binary (`sing-box schema`, present in
1.14.4), and (2) run `sing-box check` on the same config with only the `utls`/`reality`
blocks removed. mihomo has REALITY built in, so Clash Meta output is checked as is.
Stash has no Linux build; its profile (the same emitter, Clash keys) goes through
`mihomo -t` for syntax and structure.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.clients import mihomo_check, run_mihomo, sing_box_check
from tests.fixtures.ports import free_port
from tests.formats.samples import MATRIX, PUBKEY, TRICKY_STRINGS, client_proxies
from tests.formats.schema_lite import SchemaValidator
from vpanel_core.formats import FormatOptions, get_format
from vpanel_core.proxies import ClientProxy

_HYPOTHESIS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def without_utls(config: dict[str, Any]) -> dict[str, Any]:
    """The config minus the blocks this sing-box build cannot load (see module docstring)."""
    stripped = copy.deepcopy(config)
    for outbound in stripped["outbounds"]:
        tls = outbound.get("tls", {})
        tls.pop("utls", None)
        tls.pop("reality", None)
    return stripped


def assert_sing_box_accepts(
    proxies: list[ClientProxy], schema: SchemaValidator, workdir: Path
) -> None:
    config = json.loads(get_format("sing_box").generate(proxies, FormatOptions()))
    assert schema.errors(config) == []
    result = sing_box_check(without_utls(config), workdir)
    assert result.returncode == 0, result.stdout + result.stderr


def assert_mihomo_accepts(fmt: str, proxies: list[ClientProxy], workdir: Path) -> None:
    body = get_format(fmt).generate(proxies, FormatOptions()).decode()
    result = mihomo_check(body, workdir)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("proxy", MATRIX, ids=lambda p: p.id)
def test_sing_box_accepts_each_protocol_config(proxy, sing_box_schema, tmp_path):
    assert_sing_box_accepts([proxy], sing_box_schema, tmp_path)


def test_sing_box_accepts_all_protocols_in_one_config(sing_box_schema, tmp_path):
    assert_sing_box_accepts(MATRIX, sing_box_schema, tmp_path)


def test_sing_box_accepts_empty_subscription(sing_box_schema, tmp_path):
    assert_sing_box_accepts([], sing_box_schema, tmp_path)


def test_reality_block_has_the_documented_fields():
    config = json.loads(get_format("sing_box").generate(MATRIX[:1], FormatOptions()))
    tls = config["outbounds"][-2]["tls"]
    assert tls["utls"] == {"enabled": True, "fingerprint": "chrome"}
    assert tls["reality"] == {
        "enabled": True,
        "public_key": PUBKEY,
        "short_id": "0123abcd",
    }


def test_schema_validator_rejects_a_misspelt_reality_field(sing_box_schema):
    config = json.loads(get_format("sing_box").generate(MATRIX[:1], FormatOptions()))
    config["outbounds"][-2]["tls"]["reality"]["publickey"] = "x"
    assert sing_box_schema.errors(config) != []


@pytest.mark.parametrize("proxy", MATRIX, ids=lambda p: p.id)
def test_mihomo_accepts_each_protocol_clash_meta(proxy, tmp_path):
    assert_mihomo_accepts("clash_meta", [proxy], tmp_path)


@pytest.mark.parametrize("fmt", ["clash_meta", "clash", "stash"])
def test_mihomo_accepts_full_profile(fmt, tmp_path):
    assert_mihomo_accepts(fmt, MATRIX, tmp_path)


@pytest.mark.parametrize("fmt", ["clash_meta", "clash", "stash"])
def test_mihomo_accepts_empty_profile(fmt, tmp_path):
    assert_mihomo_accepts(fmt, [], tmp_path)


def _provider_names(controller: str, timeout: float = 10.0) -> list[str]:
    """Proxy names of the `sub` provider, once mihomo has loaded it."""
    deadline = time.monotonic() + timeout
    while True:
        response = requests.get(f"{controller}/providers/proxies/sub", timeout=3)
        response.raise_for_status()
        names = [p["name"] for p in response.json()["proxies"]]
        if names or time.monotonic() > deadline:
            return names
        time.sleep(0.05)


@pytest.mark.e2e
def test_mihomo_reads_back_tricky_names_exactly(tmp_path):
    """mihomo's go-yaml (YAML 1.2) reads our plain, quoted and escaped strings as PyYAML
    does: a profile whose proxy names are YAML keywords, numbers, indicators, breaks and
    controls, loaded as a file provider, lists the very same names in mihomo's API."""
    names = [s for s in TRICKY_STRINGS if s]  # an empty name becomes the protocol's
    proxies = [
        replace(MATRIX[i % len(MATRIX)], id=str(i), name=name) for i, name in enumerate(names)
    ]
    (tmp_path / "sub.yaml").write_bytes(get_format("clash_meta").generate(proxies, FormatOptions()))
    mixed, api = free_port(), free_port()
    config = {
        "mixed-port": mixed,
        "bind-address": "127.0.0.1",
        "allow-lan": False,
        "log-level": "info",
        "external-controller": f"127.0.0.1:{api}",
        "geo-auto-update": False,
        "proxy-providers": {
            "sub": {"type": "file", "path": "./sub.yaml", "health-check": {"enable": False}}
        },
        "proxy-groups": [{"name": "G", "type": "select", "use": ["sub"]}],
        "rules": ["MATCH,G"],
    }
    with run_mihomo(config, tmp_path, ready_port=mixed):
        assert _provider_names(f"http://127.0.0.1:{api}") == names


def test_mihomo_rejects_a_broken_profile(tmp_path):
    """Guards the check itself: a bad REALITY short id must fail `mihomo -t`."""
    doc = yaml.safe_load(get_format("clash_meta").generate(MATRIX[:1], FormatOptions()))
    doc["proxies"][0]["reality-opts"]["short-id"] = "zz"
    assert mihomo_check(yaml.safe_dump(doc), tmp_path).returncode != 0


@_HYPOTHESIS
@given(proxies=st.lists(client_proxies(), max_size=6))
def test_random_subscriptions_pass_sing_box_check(proxies, sing_box_schema, tmp_path):
    """Property: any valid proxy list renders to a config sing-box accepts."""
    assert_sing_box_accepts(proxies, sing_box_schema, tmp_path)


@_HYPOTHESIS
@given(proxies=st.lists(client_proxies(), max_size=6))
def test_random_subscriptions_pass_mihomo_check(proxies, tmp_path):
    """Property: any valid proxy list renders to Clash Meta (and Clash) YAML mihomo accepts."""
    assert_mihomo_accepts("clash_meta", proxies, tmp_path)
    assert_mihomo_accepts("clash", proxies, tmp_path)
