"""Logs / activity: what changed (grants, orders, node pushes) and this session's log."""

from __future__ import annotations

import logging
from collections import deque

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel, QLineEdit, QPlainTextEdit, QTableView, QVBoxLayout

from vpanel_core.services import admin_lists
from vpanel_desktop.context import AppContext
from vpanel_desktop.formatting import local_time
from vpanel_desktop.i18n import translator
from vpanel_desktop.screens.base import Screen
from vpanel_desktop.screens.tables import RowsModel

tr = translator("Activity")


class _LogRelay(QObject):
    line = Signal(str)


class SessionLog(logging.Handler):
    """Keeps the app's recent log lines; log calls never carry secrets (see node_ops)."""

    def __init__(self, size: int = 500) -> None:
        super().__init__(logging.INFO)
        self.lines: deque[str] = deque(maxlen=size)
        self.relay = _LogRelay()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        self.lines.append(text)
        self.relay.line.emit(text)


SESSION_LOG = SessionLog()


class ActivityScreen(Screen):
    topics = ("users", "orders", "nodes")

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.setObjectName("activityScreen")
        self.model = RowsModel(
            lambda: (tr("When"), tr("What"), tr("Who / which"), tr("Detail")), self
        )
        self.filter = QLineEdit()
        self.filter.textChanged.connect(lambda _t: self.refresh())
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.log_title = QLabel()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setPlainText("\n".join(SESSION_LOG.lines))
        SESSION_LOG.relay.line.connect(self.log.appendPlainText)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.table, 3)
        layout.addWidget(self.log_title)
        layout.addWidget(self.log, 1)
        self.retranslate_ui()
        self.refresh()

    def title(self) -> str:
        return tr("Activity")

    def retranslate_ui(self) -> None:
        self.filter.setPlaceholderText(tr("filter"))
        self.log_title.setText(tr("This session's log"))
        self.model.retranslate()

    def focus_search(self) -> None:
        self.filter.setFocus()

    def refresh(self) -> None:
        tz = self.ctx.zone()
        needle = self.filter.text().strip().lower()
        with self.ctx.read() as session:
            entries = admin_lists.recent_activity(session)
        rows = [
            (local_time(e.at, tz), e.kind, e.subject, e.detail)
            for e in entries
            if not needle or needle in f"{e.kind} {e.subject} {e.detail}".lower()
        ]
        self.model.set_rows(rows, list(range(len(rows))))
