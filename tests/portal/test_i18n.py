"""English and Simplified Chinese, chosen by cookie then Accept-Language; phone-ready pages."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from portal import i18n

SQLITE = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@SQLITE
def test_accept_language_picks_chinese(client: FlaskClient):
    page = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert '<html lang="zh-CN">' in page.get_data(as_text=True)
    assert "登录" in page.get_data(as_text=True)


@SQLITE
def test_language_cookie_wins_over_accept_language(client: FlaskClient):
    switch = client.get("/lang/en?next=/register", headers={"Accept-Language": "zh-CN"})
    page = client.get("/register", headers={"Accept-Language": "zh-CN"})
    assert switch.status_code == 302 and switch.headers["Location"] == "/register"
    assert "Create an account" in page.get_data(as_text=True)


@SQLITE
def test_language_switch_never_redirects_off_site(client: FlaskClient):
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.get("/lang/zh-CN", query_string={"next": target})
        assert response.headers["Location"] == "/"


@SQLITE
def test_pages_are_phone_ready_and_load_nothing_from_elsewhere(client: FlaskClient):
    page = client.get("/register").get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "http://" not in page and "https://" not in page


def test_both_catalogs_have_the_same_keys():
    assert set(i18n.EN) == set(i18n.ZH)
    assert i18n.pick(None, ["de", "zh-TW"]) == "zh-CN"
    assert i18n.pick("fr", ["de"]) == "en"
