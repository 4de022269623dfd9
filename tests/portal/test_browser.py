"""End to end in Debian's chromium against a real waitress server, real SMTP and SQLite:
register (PoW solved by the page's JS) → confirm by mail → log in → copy link →
regenerate (confirm dialog) → old link 404; screenshots of the main pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fixtures.portal import PASSWORD, LiveServer, make_node
from tests.fixtures.smtp import Mailbox
from vpanel_core.db import transaction
from vpanel_core.services import ledger, users

pytestmark = pytest.mark.e2e
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True}


def grant_month(server: LiveServer, email: str) -> None:
    """The operator renews the new customer (payments are another job)."""
    with transaction(server.app.extensions["vpanel"].database.sessions) as session:
        ledger.renew(session, users.find_user(session, email), days=30, traffic_bytes=50 << 30)


def register_and_confirm(
    page: Any, server: LiveServer, mailbox: Mailbox, email: str, shot: Path | None
) -> None:
    page.goto(f"{server.url}/register")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.evaluate("window.vpanelCaptcha")  # the page's own solver finds the proof of work
    page.wait_for_function("document.getElementById('altcha-field').value.length > 0")
    if shot:
        page.screenshot(path=str(shot), full_page=True)
    page.click("#register-submit")
    page.wait_for_selector("#message")
    assert email in page.inner_text("#message")
    link = mailbox.link_in(mailbox.wait_for(email))
    page.goto(link)
    page.wait_for_url("**/login?notice=verify.done")


def log_in(page: Any, email: str) -> None:
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url("**/dashboard")


def test_customer_journey_in_english(
    chromium, live_portal: LiveServer, smtp_server: Mailbox, screenshots_dir: Path
):
    server = live_portal
    make_node(server.app.extensions["vpanel"].database)
    context = chromium.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    try:
        register_and_confirm(
            page, server, smtp_server, "eve@example.com", screenshots_dir / "register-en.png"
        )
        page.screenshot(path=str(screenshots_dir / "login-en.png"), full_page=True)
        grant_month(server, "eve@example.com")
        log_in(page, "eve@example.com")
        assert page.get_attribute("#status", "data-status") == "active"
        assert page.locator(".qr-box svg").count() == 1
        assert page.locator("a.import").count() == 8
        page.screenshot(path=str(screenshots_dir / "dashboard-en.png"), full_page=True)

        old_link = page.input_value("#sub-link")
        page.click("#copy-link")
        page.wait_for_function("document.getElementById('copy-link').textContent === 'Copied'")
        assert page.evaluate("navigator.clipboard.readText()") == old_link
        assert (
            requests.get(old_link, headers={"User-Agent": "v2rayNG/1.10"}, timeout=10).status_code
            == 200
        )

        page.once("dialog", lambda dialog: dialog.dismiss())
        page.click("#regenerate")
        assert page.input_value("#sub-link") == old_link  # dismissed: nothing changed

        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#regenerate")
        page.wait_for_url("**/dashboard?notice=dashboard.regenerated")
        new_link = page.input_value("#sub-link")
        assert new_link != old_link
        gone = requests.get(old_link, headers={"User-Agent": "v2rayNG/1.10"}, timeout=10)
        assert gone.status_code == 404 and gone.json()["code"] == "SUBSCRIPTION_NOT_FOUND"
        assert (
            requests.get(new_link, headers={"User-Agent": "v2rayNG/1.10"}, timeout=10).status_code
            == 200
        )

        page.goto(new_link)
        assert page.locator(".qr-box svg").count() == 1
        assert (
            page.locator("a.import[data-client=clash]")
            .get_attribute("href")
            .startswith("clash://install-config?url=")
        )
        page.screenshot(path=str(screenshots_dir / "subscription-en.png"), full_page=True)
    finally:
        context.close()


def test_chinese_pages_on_a_phone(
    chromium, live_portal: LiveServer, smtp_server: Mailbox, screenshots_dir: Path
):
    server = live_portal
    make_node(server.app.extensions["vpanel"].database)
    context = chromium.new_context(
        locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"}, **PHONE
    )
    page = context.new_page()
    try:
        register_and_confirm(
            page,
            server,
            smtp_server,
            "li@example.com",
            screenshots_dir / "register-zh-CN-phone.png",
        )
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert "登录" in page.inner_text("h1")
        page.screenshot(path=str(screenshots_dir / "login-zh-CN-phone.png"), full_page=True)
        grant_month(server, "li@example.com")
        log_in(page, "li@example.com")
        assert page.inner_text("#status") == "正常"
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "the dashboard must not scroll sideways on a phone"
        page.screenshot(path=str(screenshots_dir / "dashboard-zh-CN-phone.png"), full_page=True)
        page.goto(page.input_value("#sub-link"))
        assert "导入订阅" in page.inner_text("h1")
        page.screenshot(path=str(screenshots_dir / "subscription-zh-CN-phone.png"), full_page=True)

        page.click("a[lang=en]")  # switch language by cookie: it wins over Accept-Language
        assert page.locator("html").get_attribute("lang") == "en"
    finally:
        context.close()
