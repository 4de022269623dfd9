"""Orders & payments: filter, confirm a manual USDT payment, mark a refund, audit trail.

Confirming goes through `vpanel_core.billing.fulfilment.settle` (the same exactly-once
path as the chain watcher), so a transaction confirmed here and seen later by the
watcher grants once.
"""

from __future__ import annotations

import uuid

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from vpanel_core.billing import fulfilment, orders
from vpanel_core.errors import DomainError, ValidationError
from vpanel_core.services import admin_lists
from vpanel_desktop.context import AppContext
from vpanel_desktop.formatting import local_time, money
from vpanel_desktop.i18n import translator
from vpanel_desktop.screens.base import Screen
from vpanel_desktop.screens.tables import RowsModel
from vpanel_desktop.widgets.forms import FormDialog, confirm, report_error

tr = translator("Orders")
ACTOR = "operator (desktop)"
STATUSES = ("", "pending", "paid", "expired", "cancelled", "refunded", "flagged")


class OrdersScreen(Screen):
    topics = ("orders", "users")

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.setObjectName("ordersScreen")
        self.model = RowsModel(
            lambda: (
                tr("Created"),
                tr("User"),
                tr("Plan"),
                tr("Status"),
                tr("Provider"),
                tr("Amount"),
                tr("Reference"),
                tr("Flag"),
            ),
            self,
        )
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self.show_trail())
        self.status = QComboBox()
        self.status.currentIndexChanged.connect(self.refresh)
        self.search = QLineEdit()
        self.search.returnPressed.connect(self.refresh)
        self.confirm_button, self.refund_button = QPushButton(), QPushButton()
        self.confirm_button.clicked.connect(self.confirm_usdt)
        self.refund_button.clicked.connect(self.refund)
        self.trail = QPlainTextEdit()
        self.trail.setObjectName("auditTrail")
        self.trail.setReadOnly(True)
        bar = QHBoxLayout()
        for widget in (self.status, self.search, self.confirm_button, self.refund_button):
            bar.addWidget(widget)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.addLayout(bar)
        top_layout.addWidget(self.table)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.trail)
        QVBoxLayout(self).addWidget(splitter)
        self.retranslate_ui()
        self.refresh()

    def title(self) -> str:
        return tr("Orders & payments")

    def retranslate_ui(self) -> None:
        self.status.blockSignals(True)
        current = self.status.currentIndex()
        self.status.clear()
        names = {"": tr("All orders"), "flagged": tr("Flagged")}
        for status in STATUSES:
            self.status.addItem(names.get(status, status), status)
        self.status.setCurrentIndex(max(0, current))
        self.status.blockSignals(False)
        self.search.setPlaceholderText(tr("user or payment reference"))
        self.confirm_button.setText(tr("Confirm USDT payment…"))
        self.refund_button.setText(tr("Mark refunded…"))
        self.model.retranslate()

    def focus_search(self) -> None:
        self.search.setFocus()

    def refresh(self) -> None:
        tz = self.ctx.zone()
        with self.ctx.read() as session:
            found = admin_lists.list_orders(
                session, status=self.status.currentData() or "", search=self.search.text()
            )
        self.model.set_rows(
            [
                (
                    local_time(o.created_at, tz),
                    o.username,
                    o.plan_name,
                    o.status,
                    o.provider,
                    money(o.amount_minor, o.currency),
                    o.provider_ref,
                    o.flagged,
                )
                for o in found
            ],
            [o.id for o in found],
        )
        self.trail.clear()

    def selected_id(self) -> uuid.UUID | None:
        index = self.table.currentIndex()
        return self.model.keys[index.row()] if index.isValid() else None

    def show_trail(self) -> None:
        order_id = self.selected_id()
        if order_id is None:
            return
        tz = self.ctx.zone()
        with self.ctx.read() as session:
            events = admin_lists.order_trail(session, order_id)
            payments = admin_lists.order_payments(session, order_id)
            lines = [
                f"{local_time(e.at, tz)}  {e.from_status or '∅'} → {e.to_status}  "
                f"[{e.actor}] {e.reason}"
                for e in events
            ]
            lines += [
                f"{tr('payment')} {p.provider} {p.provider_ref} "
                f"{money(p.amount_minor, p.currency)} {p.status}"
                for p in payments
            ]
        self.trail.setPlainText("\n".join(lines))

    def confirm_usdt(self) -> FormDialog | None:
        order_id = self.selected_id()
        if order_id is None:
            return None
        dialog = FormDialog(tr("Confirm USDT payment"), self)
        txid = QLineEdit()
        txid.setObjectName("txid")
        dialog.form.addRow(tr("Transaction hash"), txid)

        def save() -> None:
            ref = txid.text().strip().lower()
            if len(ref) != 64 or any(c not in "0123456789abcdef" for c in ref):
                raise ValidationError(tr("a TRON transaction hash is 64 hex characters"))
            with self.ctx.write() as session:
                order = orders.get_order(session, order_id)
                amount, currency = fulfilment.expected_amount(order)
                pay = fulfilment.IncomingPayment("usdt", ref, amount, currency, ACTOR)
                outcome = fulfilment.settle(session, order_id, pay)
            self.ctx.bus.status_message.emit(tr("Payment recorded: {o}").format(o=outcome.value))

        dialog.save = save
        dialog.accepted.connect(lambda: self.ctx.bus.changed.emit("orders"))
        dialog.open()
        return dialog

    def refund(self) -> None:
        order_id = self.selected_id()
        if order_id is None:
            return
        if not confirm(
            self,
            tr("Mark refunded"),
            tr("Record that this order's payment was refunded and take back what it granted?"),
        ):
            return
        try:
            with self.ctx.write() as session:
                paid = [
                    p
                    for p in admin_lists.order_payments(session, order_id)
                    if p.status == "succeeded"
                ]
                if not paid:
                    raise ValidationError(tr("this order has no succeeded payment to refund"))
                fulfilment.refund(
                    session, paid[-1], actor=ACTOR, full=True, note="marked in desktop"
                )
        except DomainError as exc:
            report_error(self, exc)
            return
        self.ctx.bus.changed.emit("orders")
