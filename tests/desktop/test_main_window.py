"""Main window: every screen opens (with a screenshot), shortcuts, live language switch."""

from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ET

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.fixtures.qt import ROOT, save_screenshot
from vpanel_core.services import plans, users
from vpanel_desktop import i18n
from vpanel_desktop.mainwindow import SCREENS
from vpanel_desktop.screens.dashboard import DashboardScreen
from vpanel_desktop.screens.users import UserDialog, UsersScreen

sys.path.insert(0, str(ROOT / "resources" / "translations"))
import update_ts


def seed(ctx) -> None:
    with ctx.write() as session:
        plan = plans.create_plan(
            session, plans.NewPlan("Basic", 999, "USD", 30, traffic_bytes=100 << 30)
        )
        for i, name in enumerate(("alice", "bob", "carol")):
            user = users.create_user(
                session, users.NewUser(username=name, email=f"{name}@example.com", days=10 + i)
            )
            users.apply_plan(session, user, plan, grant_id=f"seed:{name}", source="manual")


@pytest.mark.parametrize("screen_cls", SCREENS, ids=lambda c: c.__name__)
def test_each_screen_opens_with_a_title_and_is_captured(
    main_window, desktop_ctx, qtbot, screen_cls
):
    seed(desktop_ctx)
    main_window.current_screen().refresh()
    screen = main_window.show_screen(screen_cls)
    screen.refresh()
    qtbot.waitUntil(screen.isVisible)
    if screen_cls is DashboardScreen:
        qtbot.waitUntil(lambda: screen.values["users"].text() == "3 / 3")
        assert screen.usage_chart.values == [0] * 30
        assert screen.values["nodes"].text() == "0 / 0"
    assert main_window.nav.currentItem().text() == screen.title()
    name = screen_cls.__name__.removesuffix("Screen").lower()
    path = save_screenshot(main_window, name)
    assert path.stat().st_size > 1000


def test_ctrl_n_opens_new_user_dialog_on_users_screen(main_window, qtbot):
    qtbot.keyClick(main_window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert isinstance(main_window.current_screen(), UsersScreen)
    qtbot.waitUntil(
        lambda: any(
            isinstance(w, UserDialog) and w.isVisible() for w in QApplication.topLevelWidgets()
        )
    )


def test_ctrl_f_focuses_user_search(main_window, qtbot):
    screen = main_window.show_screen(UsersScreen)
    qtbot.keyClick(main_window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: screen.search.hasFocus())


def test_f5_reloads_users_created_elsewhere(main_window, desktop_ctx, qtbot):
    screen = main_window.show_screen(UsersScreen)
    assert screen.model.total == 0
    with desktop_ctx.write() as session:
        users.create_user(session, users.NewUser(username="from-cli"))
    qtbot.keyClick(main_window, Qt.Key.Key_F5)
    assert screen.model.total == 1


def test_switching_to_chinese_relabels_screens_live_and_back(main_window, qtbot):
    users_screen = main_window.show_screen(UsersScreen)
    assert i18n.set_language("zh_CN")
    qtbot.waitUntil(lambda: main_window.nav.item(1).text() == "用户")
    assert users_screen.buttons["renew"].text() == "续费…"
    header = users_screen.model.headerData(0, Qt.Orientation.Horizontal)
    assert header == "用户名"
    assert main_window.windowTitle() == "vpanel — 运营端"
    assert users_screen.details.captions["expiry"].text() == "到期时间"
    assert users_screen.plan_filter.itemText(0) == "全部套餐"
    save_screenshot(main_window, "users-zh_CN")
    i18n.set_language("en")
    qtbot.waitUntil(lambda: main_window.nav.item(1).text() == "Users")


def test_every_ui_string_has_a_chinese_translation():
    shipped = ET.parse(ROOT / "resources/translations/vpanel_zh_CN.ts").getroot()
    translated = {
        (ctx.findtext("name"), m.findtext("source"))
        for ctx in shipped.iter("context")
        for m in ctx.iter("message")
        if m.findtext("translation") and m.find("translation[@type='unfinished']") is None
    }
    wanted = {(c, s) for c, strings in update_ts.extract().items() for s in strings}
    assert wanted - translated == set()
    assert (ROOT / "resources/translations/vpanel_zh_CN.qm").stat().st_size > 1000
    ast.parse((ROOT / "resources/translations/update_ts.py").read_text())
