"""Subscriptions: every link, masked, with access stats; revoke or reset stats."""

from __future__ import annotations

import uuid

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
)

from vpanel_core.models import User
from vpanel_core.services import admin_lists, users
from vpanel_desktop.context import AppContext
from vpanel_desktop.formatting import local_time, mask
from vpanel_desktop.i18n import translator
from vpanel_desktop.screens.base import Screen
from vpanel_desktop.screens.tables import RowsModel
from vpanel_desktop.widgets.forms import confirm

tr = translator("Subscriptions")


class SubscriptionsScreen(Screen):
    topics = ("users",)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.setObjectName("subscriptionsScreen")
        self.model = RowsModel(
            lambda: (
                tr("User"),
                tr("Token"),
                tr("Short code"),
                tr("Created"),
                tr("Last access"),
                tr("Accesses"),
                tr("Last IP"),
            ),
            self,
        )
        self.table = QTableView()
        self.table.setObjectName("subscriptionsTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.search = QLineEdit()
        self.search.returnPressed.connect(self.refresh)
        self.revoke_button, self.reset_button = QPushButton(), QPushButton()
        self.revoke_button.clicked.connect(self.revoke)
        self.reset_button.clicked.connect(self.reset_stats)
        bar = QHBoxLayout()
        for widget in (self.search, self.revoke_button, self.reset_button):
            bar.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.table)
        self.retranslate_ui()
        self.refresh()

    def title(self) -> str:
        return tr("Subscriptions")

    def retranslate_ui(self) -> None:
        self.search.setPlaceholderText(tr("username or short code"))
        self.revoke_button.setText(tr("Revoke (new token)"))
        self.reset_button.setText(tr("Reset stats"))
        self.model.retranslate()

    def focus_search(self) -> None:
        self.search.setFocus()

    def refresh(self) -> None:
        tz = self.ctx.zone()
        with self.ctx.read() as session:
            found = admin_lists.list_subscriptions(session, search=self.search.text())
        self.model.set_rows(
            [
                (
                    s.username,
                    mask(s.token),
                    s.short_code,
                    local_time(s.created_at, tz),
                    local_time(s.last_access_at, tz),
                    s.access_count,
                    s.last_access_ip,
                )
                for s in found
            ],
            [s.user_id for s in found],
        )

    def selected_id(self) -> uuid.UUID | None:
        index = self.table.currentIndex()
        return self.model.keys[index.row()] if index.isValid() else None

    def revoke(self) -> None:
        user_id = self.selected_id()
        if user_id is None or not confirm(
            self, tr("Revoke"), tr("The current link stops working at once. Continue?")
        ):
            return
        with self.ctx.write() as session:
            user = session.get(User, user_id)
            if user is not None:
                users.issue_subscription(session, user)
        self.ctx.bus.changed.emit("users")

    def reset_stats(self) -> None:
        user_id = self.selected_id()
        if user_id is None:
            return
        with self.ctx.write() as session:
            admin_lists.reset_access_stats(session, user_id)
        self.refresh()
