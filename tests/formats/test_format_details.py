"""Format details that do not need a client binary: link encodings, skipped-proxy
comments, registry behaviour, the per-format syntaxes."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
import yaml

from tests.formats.samples import MATRIX, SS128, UUID
from vpanel_core.formats import FORMATS, FormatOptions, SubscriptionFormat, UserInfo, get_format
from vpanel_core.formats.links import share_link
from vpanel_core.proxies import Protocol

BY_ID = {p.id: p for p in MATRIX}


def _gen(fmt: str, proxies=MATRIX, **opts) -> str:
    return get_format(fmt).generate(proxies, FormatOptions(**opts)).decode()


def test_ss2022_userinfo_is_sip002_plain_and_percent_encoded():
    link = share_link(BY_ID["ss-2022"])
    assert link.startswith("ss://2022-blake3-aes-128-gcm:" + SS128.replace("=", "%3D") + "@")


def test_ss2022_multi_user_key_keeps_its_colon_encoded():
    userinfo = share_link(BY_ID["ss-2022-multi"]).removeprefix("ss://").partition("@")[0]
    assert userinfo.count(":") == 1 and "%3A" in userinfo and "%2F" not in userinfo.split(":")[0]


def test_classic_ss_userinfo_is_unpadded_base64url():
    userinfo = share_link(BY_ID["ss-aead"]).removeprefix("ss://").partition("@")[0]
    assert "=" not in userinfo
    padded = userinfo + "=" * (-len(userinfo) % 4)
    assert base64.urlsafe_b64decode(padded) == b"aes-256-gcm:secret/+=pw"


def test_vmess_link_is_base64_of_v2rayn_json():
    link = share_link(BY_ID["vmess-ws-tls"])
    data = json.loads(base64.b64decode(link.removeprefix("vmess://")))
    assert data == {
        "v": "2", "ps": "vmess-ws-tls", "add": "example.com", "port": 443, "id": UUID,
        "aid": 0, "scy": "chacha20-poly1305", "net": "ws", "type": "none",
        "host": "example.com", "path": "/vm", "tls": "tls", "sni": "example.com",
        "alpn": "", "fp": "",
    }  # fmt: skip


def test_vless_reality_link_has_the_xray_parameters():
    link = share_link(BY_ID["vless-reality"])
    for part in (
        "encryption=none",
        "flow=xtls-rprx-vision",
        "security=reality",
        "sni=www.example.com",
        "fp=chrome",
        "sid=0123abcd",
        "spx=%2F",
        "type=tcp",
    ):
        assert part in link


def test_links_body_is_base64_of_one_link_per_line():
    body = base64.b64decode(get_format("links").generate(MATRIX, FormatOptions())).decode()
    assert body.splitlines() == [share_link(p) for p in MATRIX]


def test_shadowrocket_body_starts_with_status_line():
    user = UserInfo(
        upload=1024**3,
        download=2 * 1024**3,
        total=10 * 1024**3,
        expire=datetime(2031, 5, 1, tzinfo=UTC),
    )
    body = base64.b64decode(
        get_format("shadowrocket").generate(MATRIX[:1], FormatOptions(user=user))
    )
    first = body.decode().splitlines()[0]
    assert first == "STATUS=🚀↑:1.00GB,↓:2.00GB,TOT:10.00GB💡Expires:2031-05-01"


def test_original_clash_skips_modern_protocols_with_a_comment():
    text = _gen("clash")
    kept = {p["name"] for p in yaml.safe_load(text)["proxies"]}
    assert kept == {
        "vmess-tcp",
        "vmess-ws-tls",
        "vmess-grpc",
        "trojan",
        "trojan-ws",
        "trojan-grpc",
        "ss-aead",
    }
    assert "# skipped 'vless-reality' (vless/tcp): not supported by clash" in text
    assert "# skipped 'ss-2022' (shadowsocks/tcp)" in text
    assert "client-fingerprint" not in text


def test_clash_meta_keeps_everything_and_writes_userinfo_comment():
    user = UserInfo(upload=1, download=2, total=3, expire=datetime(2031, 1, 1, tzinfo=UTC))
    text = _gen("clash_meta", user=user)
    assert text.startswith("# upload=1; download=2; total=3; expire=1924992000;\n")
    doc = yaml.safe_load(text)
    assert len(doc["proxies"]) == len(MATRIX)
    assert doc["rules"][-1] == "MATCH,PROXY"
    assert doc["proxy-groups"][1]["type"] == "url-test"


def test_stash_hysteria2_uses_auth_key():
    doc = yaml.safe_load(_gen("stash", [BY_ID["hy2"]]))
    assert doc["proxies"][0]["auth"] == "pw" and "password" not in doc["proxies"][0]


def test_sing_box_config_has_groups_dns_and_route():
    config = json.loads(_gen("sing_box"))
    tags = [o["tag"] for o in config["outbounds"]]
    assert tags[:2] == ["proxy", "auto"] and tags[-1] == "direct"
    assert config["route"]["final"] == "proxy"
    assert config["route"]["default_domain_resolver"] == "local"
    assert {s["type"] for s in config["dns"]["servers"]} == {"https", "local"}


def test_surge_profile_lines():
    text = _gen("surge", subscription_url="https://sub.example.com/s/abc")
    assert text.startswith("#!MANAGED-CONFIG https://sub.example.com/s/abc interval=86400")
    assert f"tuic = tuic-v5, example.com, 443, uuid={UUID}, password=pw, alpn=h3" in text
    assert "vmess-aead=true" in text
    assert "# skipped 'vless-httpupgrade'" in text
    assert "FINAL,Proxy,dns-failed" in text


def test_quantumult_x_lines():
    text = _gen("quantumult_x")
    assert "trojan=example.com:443, password=p@ss:word, over-tls=true, tls-host=example.com" in text
    assert "# skipped 'hy2' (hysteria2/tcp): not supported by quantumult_x" in text


def test_loon_lines_end_with_crlf():
    text = _gen("loon", [BY_ID["trojan"], BY_ID["tuic"]])
    assert text.endswith("\r\n")
    assert "trojan=trojan,example.com,443,p@ss:word,transport=tcp,tls-name=example.com" in text
    assert "# skipped 'tuic'" in text


def test_line_formats_strip_separators_from_names():
    from dataclasses import replace

    text = _gen("surge", [replace(BY_ID["trojan"], name="a,b=c")])
    assert "a b-c = trojan" in text


def test_sip008_lists_only_shadowsocks_with_usage():
    user = UserInfo(upload=5, download=5, total=100)
    doc = json.loads(_gen("sip008", user=user))
    assert [s["remarks"] for s in doc["servers"]] == ["ss-aead", "ss-2022", "ss-2022-multi"]
    assert doc["version"] == 1 and doc["bytes_used"] == 10 and doc["bytes_remaining"] == 90


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_has_metadata_and_renders_all_samples(name):
    fmt = get_format(name)
    assert isinstance(fmt, SubscriptionFormat) and fmt.name == name
    assert fmt.content_type and fmt.file_extension
    assert fmt.generate(MATRIX, FormatOptions())


@pytest.mark.parametrize("name", ["links", "clash_meta", "sing_box", "stash", "shadowrocket"])
def test_full_formats_support_every_protocol(name):
    assert {p.protocol for p in MATRIX if get_format(name).supports(p)} == set(Protocol)


def test_get_format_rejects_unknown_names_with_code():
    with pytest.raises(Exception) as exc:
        get_format("xray")
    assert getattr(exc.value, "code", None) == "INVALID_FORMAT"
