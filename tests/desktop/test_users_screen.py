"""Users screen: what an operator sees after creating, renewing and editing users."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import func, insert, select

from tests.fixtures.qt import save_screenshot
from vpanel_core.models import Grant, Subscription, User
from vpanel_core.services import ledger, users
from vpanel_desktop.screens import users as users_screen
from vpanel_desktop.screens.users import UsersScreen

GIB = 1 << 30


@pytest.fixture
def screen(desktop_ctx, qtbot) -> UsersScreen:
    widget = UsersScreen(desktop_ctx)
    qtbot.addWidget(widget)
    widget.resize(1200, 700)
    widget.show()
    return widget


def user_count(ctx) -> int:
    with ctx.read() as session:
        return session.scalar(select(func.count(User.id))) or 0


def create_via_dialog(screen: UsersScreen, **fields: str):
    dialog = screen.new_user()
    dialog.username.setText(fields.get("username", "alice"))
    dialog.email.setText(fields.get("email", "alice@example.com"))
    dialog.days.setText(fields.get("days", "30"))
    dialog.traffic.setText(fields.get("traffic", "50GB"))
    dialog.submit()
    return dialog


def test_create_then_renew_shows_extended_expiry_and_summed_allowance(screen, desktop_ctx):
    before = datetime.now(UTC)
    dialog = create_via_dialog(screen)
    assert not dialog.isVisible() and dialog.error.isHidden()
    assert screen.selected_id() is not None
    assert screen.details.fields["allowance"].text() == "50.00 GiB"

    renew = screen.renew_user()
    renew.days.setText("10")
    renew.traffic.setText("25GB")
    renew.submit()
    assert renew.error.isHidden()

    tz = desktop_ctx.zone()
    shown_expiry = datetime.strptime(screen.details.fields["expiry"].text(), "%Y-%m-%d %H:%M")
    expected = (before + timedelta(days=40)).astimezone(tz).replace(tzinfo=None)
    assert abs(shown_expiry - expected) < timedelta(minutes=2)
    assert screen.details.fields["allowance"].text() == "75.00 GiB"
    assert screen.details.fields["status"].text() == "active"
    row = screen.model.row_at(screen.table.currentIndex().row())
    assert row.allowance == 75 * GIB
    save_screenshot(screen, "users")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-email", "invalid e-mail"),
        ("traffic", "-5GB", "traffic must not be negative"),
        ("days", "-3", "days must not be negative"),
        ("username", "x", "username must be 3-64"),
    ],
)
def test_invalid_input_shows_inline_message_and_saves_nothing(
    screen, desktop_ctx, field, value, message
):
    dialog = create_via_dialog(screen, **{field: value})
    assert dialog.isVisible()
    assert not dialog.error.isHidden()
    assert message in dialog.error.text()
    assert user_count(desktop_ctx) == 0
    dialog.reject()


def test_renew_with_negative_traffic_is_refused_and_grants_nothing(screen, desktop_ctx):
    create_via_dialog(screen)
    with desktop_ctx.read() as session:
        grants_before = session.scalar(select(func.count()).select_from(Grant))
    renew = screen.renew_user()
    renew.traffic.setText("-1GB")
    renew.submit()
    assert "traffic must not be negative" in renew.error.text()
    with desktop_ctx.read() as session:
        assert session.scalar(select(func.count()).select_from(Grant)) == grants_before
    renew.reject()


def test_search_filters_in_sql_and_counts_matches(screen, desktop_ctx, qtbot):
    with desktop_ctx.write() as session:
        for name in ("alice", "bob", "alicia", "carol"):
            users.create_user(session, users.NewUser(username=name, days=1))
    screen.refresh()
    screen.search.setText("ali")
    qtbot.waitUntil(lambda: screen.model.total == 2)
    assert sorted(r.username for r in screen.model.rows) == ["alice", "alicia"]
    assert screen.count_label.text() == "2 users"


def test_status_filter_uses_ledger_status(screen, desktop_ctx, qtbot):
    with desktop_ctx.write() as session:
        users.create_user(session, users.NewUser(username="paying", days=5))
        users.create_user(session, users.NewUser(username="lapsed"))
        off = users.create_user(session, users.NewUser(username="switched-off", days=5))
        users.set_enabled(session, off, False)
    screen.refresh()
    expired = screen.status_filter.findData("expired")
    screen.status_filter.setCurrentIndex(expired)
    qtbot.waitUntil(lambda: screen.model.snapshot is not None and screen.model.total == 1)
    assert [r.username for r in screen.model.rows] == ["lapsed"]
    screen.status_filter.setCurrentIndex(screen.status_filter.findData("disabled"))
    assert [r.username for r in screen.model.rows] == ["switched-off"]


def test_table_fetches_pages_as_it_scrolls(screen, desktop_ctx):
    with desktop_ctx.write() as session:
        session.execute(
            insert(User),
            [
                {
                    "id": uuid.uuid4(),
                    "username": f"u{i:04d}",
                    "proxy_secret": "s",
                    "credential": uuid.uuid4(),
                    "created_at": datetime.now(UTC),
                    "updated_at": datetime.now(UTC),
                    "node_groups": [],
                    "enabled": True,
                    "email_verified": False,
                    "alias": "",
                    "notes": "",
                    "role": "customer",
                    "reset_strategy": "none",
                    "locale": "en",
                }
                for i in range(450)
            ],
        )
    screen.refresh()
    assert screen.model.total == 450
    assert screen.model.rowCount() == users_screen.PAGE
    screen.table.scrollToBottom()
    while screen.model.canFetchMore():
        screen.model.fetchMore()
    assert screen.model.rowCount() == 450
    screen.table.sortByColumn(users_screen.COLUMNS.index("username"), Qt.SortOrder.DescendingOrder)
    assert screen.model.rows[0].username == "u0449"


def test_delete_asks_and_keeps_user_when_operator_says_no(screen, desktop_ctx, monkeypatch):
    create_via_dialog(screen)
    answers = iter([False, True])
    monkeypatch.setattr(users_screen, "confirm", lambda *a: next(answers))
    screen.delete_user()
    assert user_count(desktop_ctx) == 1
    screen.delete_user()
    assert user_count(desktop_ctx) == 0
    assert screen.model.total == 0


def test_new_link_revokes_old_token_and_updates_qr_link(screen, desktop_ctx, monkeypatch):
    create_via_dialog(screen)
    old_link = screen.details.link.text()
    assert "/api/subscription/" in old_link
    assert screen.details.qr.pixmap() is not None and not screen.details.qr.pixmap().isNull()
    monkeypatch.setattr(users_screen, "confirm", lambda *a: True)
    screen.regenerate_token()
    new_link = screen.details.link.text()
    assert new_link != old_link
    with desktop_ctx.read() as session:
        token = session.scalars(select(Subscription.token)).one()
    assert new_link.endswith(token)


def test_disable_and_reset_usage_change_what_is_shown(screen, desktop_ctx, monkeypatch):
    create_via_dialog(screen)
    screen.toggle_enabled()
    assert screen.details.fields["status"].text() == "disabled"
    screen.toggle_enabled()
    assert screen.details.fields["status"].text() == "active"
    monkeypatch.setattr(users_screen, "confirm", lambda *a: True)
    screen.reset_usage()
    with desktop_ctx.read() as session:
        kinds = list(session.scalars(select(Grant.kind)))
    assert "usage_reset" in kinds


def test_edit_changes_reset_strategy_and_rejects_bad_email(screen, desktop_ctx):
    create_via_dialog(screen)
    dialog = screen.edit_user()
    dialog.email.setText("broken@")
    dialog.submit()
    assert "invalid e-mail" in dialog.error.text()
    dialog.email.setText("alice@example.org")
    dialog.reset.setCurrentIndex(dialog.reset.findData("monthly"))
    dialog.submit()
    assert dialog.error.isHidden()
    with desktop_ctx.read() as session:
        user = users.find_user(session, "alice")
        assert (user.email, user.reset_strategy) == ("alice@example.org", "monthly")
        assert ledger.entitlement(session, user).allowance == 50 * GIB
