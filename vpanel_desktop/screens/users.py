"""Users: a paged table over 100,000 users, filters, and every per-user action.

The model fetches pages of rows as the view scrolls (`canFetchMore`/`fetchMore`);
search, plan, node-group and sort run in SQL through
`vpanel_core.services.user_query`; status for the visible rows comes from the ledger
in bulk. Filtering by a derived status uses a snapshot computed off the GUI thread.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
)
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from vpanel_core import links, settings
from vpanel_core.entitlement import ResetStrategy, Status
from vpanel_core.errors import DomainError
from vpanel_core.models import User
from vpanel_core.services import ledger, plans, users
from vpanel_core.services.user_query import (
    StatusSnapshot,
    UserQuery,
    UserRow,
    count_users,
    matching_ids,
    node_groups_in_use,
    rows_for,
    status_snapshot,
    user_page,
)
from vpanel_desktop.context import AppContext
from vpanel_desktop.formatting import human_bytes, local_time
from vpanel_desktop.i18n import translator
from vpanel_desktop.screens.base import Screen
from vpanel_desktop.widgets.forms import (
    FormDialog,
    confirm,
    parse_number,
    parse_traffic,
    report_error,
)
from vpanel_desktop.widgets.qr import qr_pixmap
from vpanel_desktop.workers import run_in_background

tr = translator("Users")
Index = QModelIndex | QPersistentModelIndex
PAGE = 200
COLUMNS = (
    "username",
    "email",
    "alias",
    "status",
    "expiry",
    "used",
    "allowance",
    "plan",
    "groups",
    "created_at",
)
SQL_SORTABLE = {"username", "email", "alias", "plan", "created_at"}


def status_label(status: Status) -> str:
    return {
        Status.ACTIVE: tr("active"),
        Status.EXPIRED: tr("expired"),
        Status.TRAFFIC_EXCEEDED: tr("over quota"),
        Status.DISABLED: tr("disabled"),
    }[status]


class UserTableModel(QAbstractTableModel):
    """Rows of the current query, loaded a page at a time; never all 100,000."""

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.query = UserQuery()
        self.snapshot: StatusSnapshot | None = None
        self.rows: list[UserRow] = []
        self.total = 0
        self._ids: list[uuid.UUID] | None = None
        self.tz = ctx.zone()

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        return {
            "username": tr("Username"),
            "email": tr("E-mail"),
            "alias": tr("Alias"),
            "status": tr("Status"),
            "expiry": tr("Expires"),
            "used": tr("Used"),
            "allowance": tr("Allowance"),
            "plan": tr("Plan"),
            "groups": tr("Node groups"),
            "created_at": tr("Created"),
        }[COLUMNS[section]]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.UserRole:
            return row
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        column = COLUMNS[index.column()]
        return {
            "username": lambda: row.username,
            "email": lambda: row.email or "",
            "alias": lambda: row.alias,
            "status": lambda: status_label(row.status),
            "expiry": lambda: local_time(row.expiry, self.tz),
            "used": lambda: human_bytes(row.used),
            "allowance": lambda: human_bytes(row.allowance),
            "plan": lambda: row.plan_name,
            "groups": lambda: ", ".join(row.node_groups),
            "created_at": lambda: local_time(row.created_at, self.tz),
        }[column]()

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and len(self.rows) < self.total

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid():
            return
        page = self._load(len(self.rows))
        if not page:
            self.total = len(self.rows)
            return
        self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows) + len(page) - 1)
        self.rows.extend(page)
        self.endInsertRows()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        key = COLUMNS[column]
        if key not in SQL_SORTABLE:
            return
        descending = order == Qt.SortOrder.DescendingOrder
        self.set_query(replace(self.query, sort=key, descending=descending))

    def set_query(self, query: UserQuery) -> None:
        """Apply filters/sort: count + first page only, so it stays fast at any size."""
        self.beginResetModel()
        self.query = query
        self.tz = self.ctx.zone()
        if query.needs_snapshot and self.snapshot is not None:
            with self.ctx.read() as session:
                self._ids = matching_ids(session, query, self.snapshot)
            self.total = len(self._ids)
        else:
            self._ids = None
            with self.ctx.read() as session:
                self.total = count_users(
                    session, replace(query, status=None) if query.needs_snapshot else query
                )
        self.rows = self._load(0)
        self.endResetModel()

    def reload(self) -> None:
        self.set_query(self.query)

    def _load(self, offset: int) -> list[UserRow]:
        with self.ctx.read() as session:
            if self._ids is not None:
                return rows_for(session, self._ids[offset : offset + PAGE])
            query = replace(self.query, status=None) if self.query.needs_snapshot else self.query
            return user_page(session, query, offset, PAGE)

    def row_at(self, row: int) -> UserRow:
        return self.rows[row]

    def find_row(self, user_id: uuid.UUID) -> int:
        for number, row in enumerate(self.rows):
            if row.id == user_id:
                return number
        return -1


class UserDialog(FormDialog):
    """Create (with an initial allowance) or edit a user's profile and limits."""

    def __init__(self, parent: QWidget | None, *, editing: bool) -> None:
        super().__init__(tr("Edit user") if editing else tr("New user"), parent)
        self.username = QLineEdit()
        self.username.setObjectName("username")
        self.email = QLineEdit()
        self.email.setObjectName("email")
        self.alias = QLineEdit()
        self.notes = QPlainTextEdit()
        self.notes.setFixedHeight(60)
        self.days = QLineEdit("30")
        self.days.setObjectName("days")
        self.traffic = QLineEdit("0")
        self.traffic.setObjectName("traffic")
        self.traffic.setPlaceholderText(tr("e.g. 50GB; 0 = none"))
        self.reset = QComboBox()
        self.reset.setObjectName("reset")
        for strategy in ResetStrategy:
            self.reset.addItem(strategy.value, strategy.value)
        self.groups = QLineEdit()
        self.groups.setPlaceholderText(tr("comma separated; empty = all nodes"))
        self.form.addRow(tr("Username"), self.username)
        self.form.addRow(tr("E-mail"), self.email)
        self.form.addRow(tr("Alias"), self.alias)
        self.form.addRow(tr("Notes"), self.notes)
        if editing:
            self.username.setReadOnly(True)
        else:
            self.form.addRow(tr("Days"), self.days)
            self.form.addRow(tr("Traffic"), self.traffic)
        self.form.addRow(tr("Traffic reset"), self.reset)
        self.form.addRow(tr("Node groups"), self.groups)

    def node_groups(self) -> tuple[str, ...]:
        return tuple(g.strip() for g in self.groups.text().split(",") if g.strip())


class RenewDialog(FormDialog):
    """Add days and/or traffic: a ledger grant, never an overwrite."""

    def __init__(self, parent: QWidget | None, username: str) -> None:
        super().__init__(tr("Renew {name}").format(name=username), parent)
        self.days = QLineEdit("30")
        self.days.setObjectName("days")
        self.traffic = QLineEdit("0")
        self.traffic.setObjectName("traffic")
        self.traffic.setPlaceholderText(tr("e.g. 50GB; 0 = none"))
        self.unlimited = QCheckBox(tr("Unlimited traffic"))
        self.form.addRow(tr("Add days"), self.days)
        self.form.addRow(tr("Add traffic"), self.traffic)
        self.form.addRow("", self.unlimited)


class UserDetails(QGroupBox):
    """The selected user: entitlement, links with QR and copy, access stats."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("userDetails")
        self.fields: dict[str, QLabel] = {}
        self.captions: dict[str, QLabel] = {}
        self.form = QFormLayout()
        for key in ("status", "expiry", "allowance", "used", "remaining", "access"):
            label = QLabel("—")
            label.setObjectName(f"detail_{key}")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fields[key] = label
            self.captions[key] = QLabel()
            self.form.addRow(self.captions[key], label)
        self.link = QLineEdit()
        self.link.setObjectName("subscriptionLink")
        self.link.setReadOnly(True)
        self.copy = QPushButton()
        self.copy.clicked.connect(self.copy_link)
        self.qr = QLabel()
        self.qr.setObjectName("qr")
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        link_row = QHBoxLayout()
        link_row.addWidget(self.link)
        link_row.addWidget(self.copy)
        layout.addLayout(link_row)
        layout.addWidget(self.qr)
        layout.addStretch()
        self.retranslate_ui()

    def retranslate_ui(self) -> None:
        self.setTitle(tr("Details"))
        self.copy.setText(tr("Copy"))
        names = {
            "status": tr("Status"),
            "expiry": tr("Expires"),
            "allowance": tr("Allowance"),
            "used": tr("Used"),
            "remaining": tr("Remaining"),
            "access": tr("Link accesses"),
        }
        for key, caption in self.captions.items():
            caption.setText(names[key])

    def show_user(self, ctx: AppContext, user_id: uuid.UUID | None) -> None:
        if user_id is None:
            for label in self.fields.values():
                label.setText("—")
            self.link.clear()
            self.qr.clear()
            return
        with ctx.read() as session:
            user = session.get(User, user_id)
            if user is None:
                return self.show_user(ctx, None)
            ent = ledger.entitlement(session, user)
            tz = settings.operator_zone(session)
            portal = str(settings.get(session, "portal_url"))
            sub = user.subscription
            url = links.subscription_url(portal, sub) if sub else ""
            access = (
                tr("{count} times, last {at} from {ip}").format(
                    count=sub.access_count,
                    at=local_time(sub.last_access_at, tz),
                    ip=sub.last_access_ip or "—",
                )
                if sub
                else "—"
            )
        self.fields["status"].setText(status_label(ent.status))
        self.fields["expiry"].setText(local_time(ent.expiry, tz))
        self.fields["allowance"].setText(human_bytes(ent.allowance, tr("unlimited")))
        self.fields["used"].setText(human_bytes(ent.used))
        self.fields["remaining"].setText(human_bytes(ent.remaining, tr("unlimited")))
        self.fields["access"].setText(access)
        self.link.setText(url)
        pixmap = qr_pixmap(url or " ")
        self.qr.setPixmap(pixmap)
        self.qr.setMinimumSize(pixmap.size())
        return None

    def copy_link(self) -> None:
        QGuiApplication.clipboard().setText(self.link.text())


class UsersScreen(Screen):
    topics = ("users", "plans", "settings", "usage")

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.setObjectName("usersScreen")
        self.model = UserTableModel(ctx, self)
        self.search = QLineEdit()
        self.search.setObjectName("search")
        self.search.setClearButtonEnabled(True)
        self.status_filter = QComboBox()
        self.plan_filter = QComboBox()
        self.group_filter = QComboBox()
        self.count_label = QLabel()
        self.table = QTableView()
        self.table.setObjectName("usersTable")
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COLUMNS.index("created_at"), Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.selectionModel().currentRowChanged.connect(self._on_current)
        self.table.doubleClicked.connect(lambda _i: self.edit_user())
        self.details = UserDetails()
        self.buttons: dict[str, QPushButton] = {}
        actions = {
            "new": self.new_user,
            "edit": self.edit_user,
            "renew": self.renew_user,
            "toggle": self.toggle_enabled,
            "reset": self.reset_usage,
            "regenerate": self.regenerate_token,
            "delete": self.delete_user,
        }
        toolbar = QHBoxLayout()
        for key, slot in actions.items():
            button = QPushButton()
            button.setObjectName(f"user_{key}")
            button.clicked.connect(slot)
            self.buttons[key] = button
            toolbar.addWidget(button)
        toolbar.addStretch()
        filters = QHBoxLayout()
        filters.addWidget(self.search, 2)
        for combo in (self.status_filter, self.plan_filter, self.group_filter):
            filters.addWidget(combo, 1)
            combo.currentIndexChanged.connect(self.apply_filters)
        filters.addWidget(self.count_label)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(filters)
        left_layout.addLayout(toolbar)
        left_layout.addWidget(self.table)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([800, 340])
        QVBoxLayout(self).addWidget(splitter)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self.apply_filters)
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self._snapshot_pending = False
        self.retranslate_ui()
        self.refresh()

    def title(self) -> str:
        return tr("Users")

    def retranslate_ui(self) -> None:
        labels = {
            "new": tr("New…"),
            "edit": tr("Edit…"),
            "renew": tr("Renew…"),
            "toggle": tr("Enable/Disable"),
            "reset": tr("Reset usage"),
            "regenerate": tr("New link"),
            "delete": tr("Delete"),
        }
        for key, text in labels.items():
            self.buttons[key].setText(text)
        self.search.setPlaceholderText(tr("Search username, e-mail, alias (Ctrl+F)"))
        self._fill_status_filter()
        self._fill_choices()
        self.model.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, len(COLUMNS) - 1)
        self.details.retranslate_ui()
        self._update_count()

    def _fill_status_filter(self) -> None:
        current = self.status_filter.currentData()
        self.status_filter.blockSignals(True)
        self.status_filter.clear()
        self.status_filter.addItem(tr("Any status"), None)
        for status in Status:
            self.status_filter.addItem(status_label(status), status.value)
        index = self.status_filter.findData(current)
        self.status_filter.setCurrentIndex(max(0, index))
        self.status_filter.blockSignals(False)

    def _fill_choices(self) -> None:
        with self.ctx.read() as session:
            plan_list = [(p.name, p.id) for p in plans.list_plans(session)]
            groups = node_groups_in_use(session)
        for combo, label, items in (
            (self.plan_filter, tr("Any plan"), plan_list),
            (self.group_filter, tr("Any node group"), [(g, g) for g in groups]),
        ):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(label, None)
            for text, data in items:
                combo.addItem(text, data)
            combo.setCurrentIndex(max(0, combo.findData(current)))
            combo.blockSignals(False)

    def refresh(self) -> None:
        self.model.snapshot = None
        self._fill_choices()
        self.apply_filters()

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def current_query(self) -> UserQuery:
        return replace(
            self.model.query,
            search=self.search.text(),
            status=Status(self.status_filter.currentData())
            if self.status_filter.currentData()
            else None,
            plan_id=self.plan_filter.currentData(),
            group=self.group_filter.currentData() or "",
        )

    def apply_filters(self) -> None:
        query = self.current_query()
        if query.needs_snapshot and self.model.snapshot is None:
            self._request_snapshot()
        selected = self.selected_id()
        self.model.set_query(query)
        self._update_count()
        row = self.model.find_row(selected) if selected else -1
        if row >= 0:
            self.table.selectRow(row)
        self.details.show_user(self.ctx, selected if row >= 0 else None)

    def _request_snapshot(self) -> None:
        """Derive every user's status off the GUI thread, then re-apply the filter."""
        if self._snapshot_pending:
            return
        self._snapshot_pending = True
        self.count_label.setText(tr("computing statuses…"))
        database = self.ctx.database

        def work() -> StatusSnapshot:
            with database.sessions() as session:
                return status_snapshot(session)

        run_in_background(work, self._snapshot_ready, self._snapshot_failed)

    def _snapshot_ready(self, snapshot: StatusSnapshot) -> None:
        self._snapshot_pending = False
        self.model.snapshot = snapshot
        self.apply_filters()

    def _snapshot_failed(self, message: str) -> None:
        self._snapshot_pending = False
        self.count_label.setText(message)

    def _update_count(self) -> None:
        if self.model.query.needs_snapshot and self.model.snapshot is None:
            return
        self.count_label.setText(tr("{count} users").format(count=self.model.total))

    def selected_id(self) -> uuid.UUID | None:
        index = self.table.currentIndex()
        if not index.isValid() or index.row() >= len(self.model.rows):
            return None
        return self.model.row_at(index.row()).id

    def select_user(self, user_id: uuid.UUID) -> bool:
        row = self.model.find_row(user_id)
        if row < 0:
            return False
        self.table.selectRow(row)
        self.details.show_user(self.ctx, user_id)
        return True

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.details.show_user(self.ctx, self.model.row_at(current.row()).id)

    def _changed(self, user_id: uuid.UUID | None = None) -> None:
        self.ctx.bus.changed.emit("users")
        if user_id is not None:
            self.select_user(user_id)

    # --- actions -------------------------------------------------------------------

    def new_user(self) -> UserDialog:
        dialog = UserDialog(self, editing=False)
        created: list[uuid.UUID] = []

        def save() -> None:
            spec = users.NewUser(
                username=dialog.username.text(),
                email=dialog.email.text().strip() or None,
                alias=dialog.alias.text(),
                notes=dialog.notes.toPlainText(),
                days=parse_number(dialog.days.text(), tr("days")),
                traffic_bytes=parse_traffic(dialog.traffic.text()),
                reset_strategy=dialog.reset.currentData(),
                node_groups=dialog.node_groups(),
            )
            with self.ctx.write() as session:
                created.append(users.create_user(session, spec).id)

        dialog.save = save
        dialog.accepted.connect(lambda: self._created(created[0]))
        dialog.open()
        return dialog

    def _created(self, user_id: uuid.UUID) -> None:
        self.search.clear()
        self._changed(None)
        with self.ctx.read() as session:
            user = session.get(User, user_id)
            name = user.username if user else ""
        if not self.select_user(user_id):
            self.search.setText(name)
            self.apply_filters()
            self.select_user(user_id)

    def edit_user(self) -> UserDialog | None:
        user_id = self.selected_id()
        if user_id is None:
            return None
        dialog = UserDialog(self, editing=True)
        with self.ctx.read() as session:
            user = session.get(User, user_id)
            if user is None:
                return None
            dialog.username.setText(user.username)
            dialog.email.setText(user.email or "")
            dialog.alias.setText(user.alias)
            dialog.notes.setPlainText(user.notes)
            dialog.reset.setCurrentIndex(dialog.reset.findData(user.reset_strategy))
            dialog.groups.setText(", ".join(user.node_groups or []))

        def save() -> None:
            with self.ctx.write() as session:
                target = users.find_user(session, str(user_id))
                email = dialog.email.text().strip()
                users.update_profile(
                    session,
                    target,
                    email=email or None,
                    alias=dialog.alias.text(),
                    notes=dialog.notes.toPlainText(),
                    reset_strategy=dialog.reset.currentData(),
                    node_groups=dialog.node_groups(),
                )
                if not email:
                    target.email = None

        dialog.save = save
        dialog.accepted.connect(lambda: self._changed(user_id))
        dialog.open()
        return dialog

    def renew_user(self) -> RenewDialog | None:
        user_id = self.selected_id()
        if user_id is None:
            return None
        row = self.model.row_at(self.table.currentIndex().row())
        dialog = RenewDialog(self, row.username)

        def save() -> None:
            days = parse_number(dialog.days.text(), tr("days"))
            traffic = parse_traffic(dialog.traffic.text())
            with self.ctx.write() as session:
                target = users.find_user(session, str(user_id))
                ledger.renew(
                    session,
                    target,
                    days=days,
                    traffic_bytes=traffic,
                    unlimited=dialog.unlimited.isChecked(),
                    note="desktop renewal",
                )

        dialog.save = save
        dialog.accepted.connect(lambda: self._changed(user_id))
        dialog.open()
        return dialog

    def _act(self, action: Any) -> None:
        user_id = self.selected_id()
        if user_id is None:
            return
        try:
            with self.ctx.write() as session:
                action(session, users.find_user(session, str(user_id)))
        except DomainError as exc:
            report_error(self, exc)
            return
        self._changed(user_id)

    def toggle_enabled(self) -> None:
        self._act(lambda s, u: users.set_enabled(s, u, not u.enabled))

    def reset_usage(self) -> None:
        if confirm(self, tr("Reset usage"), tr("Start counting this user's traffic from zero?")):
            self._act(ledger.reset_usage)

    def regenerate_token(self) -> None:
        if confirm(
            self,
            tr("New link"),
            tr("The old subscription link stops working at once. Continue?"),
        ):
            self._act(users.issue_subscription)

    def delete_user(self) -> None:
        user_id = self.selected_id()
        if user_id is None:
            return
        name = self.model.row_at(self.table.currentIndex().row()).username
        if not confirm(
            self,
            tr("Delete user"),
            tr("Delete {name} and their subscription? This cannot be undone.").format(name=name),
        ):
            return
        self._act(users.delete_user)
        self.details.show_user(self.ctx, None)
