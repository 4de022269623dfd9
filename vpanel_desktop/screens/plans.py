"""Plans: what the operator sells (create, edit, hide, delete)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
)

from vpanel_core.cli import parse_price
from vpanel_core.entitlement import ResetStrategy
from vpanel_core.errors import DomainError
from vpanel_core.models import Plan
from vpanel_core.services import admin_lists, plans
from vpanel_desktop.context import AppContext
from vpanel_desktop.formatting import human_bytes, money
from vpanel_desktop.i18n import translator
from vpanel_desktop.screens.base import Screen
from vpanel_desktop.screens.tables import RowsModel
from vpanel_desktop.widgets.forms import FormDialog, confirm, parse_int, parse_traffic, report_error

tr = translator("Plans")


@dataclass(frozen=True, slots=True)
class PlanRow:
    id: uuid.UUID
    name: str
    price: str
    days: int
    traffic: str
    reset: str
    groups: str
    visible: bool


def plan_headers() -> tuple[str, ...]:
    return (
        tr("Name"),
        tr("Price"),
        tr("Days"),
        tr("Traffic"),
        tr("Reset"),
        tr("Node groups"),
        tr("Visible"),
    )


def plan_cells(row: PlanRow) -> tuple[Any, ...]:
    return (
        row.name,
        row.price,
        row.days,
        row.traffic,
        row.reset,
        row.groups,
        tr("yes") if row.visible else tr("no"),
    )


class PlanDialog(FormDialog):
    def __init__(self, parent: Screen, title: str) -> None:
        super().__init__(title, parent)
        self.name = QLineEdit()
        self.name.setObjectName("name")
        self.price = QLineEdit("9.99")
        self.price.setObjectName("price")
        self.currency = QComboBox()
        self.currency.addItems(sorted(plans.CURRENCIES))
        self.currency.setCurrentText("USD")
        self.days = QLineEdit("30")
        self.days.setObjectName("days")
        self.traffic = QLineEdit("100GB")
        self.traffic.setObjectName("traffic")
        self.reset = QComboBox()
        for strategy in ResetStrategy:
            self.reset.addItem(strategy.value, strategy.value)
        self.groups = QLineEdit()
        self.description = QLineEdit()
        self.visible = QCheckBox(tr("Offered on the portal"))
        self.visible.setChecked(True)
        self.form.addRow(tr("Name"), self.name)
        self.form.addRow(tr("Price"), self.price)
        self.form.addRow(tr("Currency"), self.currency)
        self.form.addRow(tr("Days"), self.days)
        self.form.addRow(tr("Traffic per period (0 = unlimited)"), self.traffic)
        self.form.addRow(tr("Reset"), self.reset)
        self.form.addRow(tr("Node groups"), self.groups)
        self.form.addRow(tr("Description"), self.description)
        self.form.addRow("", self.visible)

    def spec(self) -> plans.NewPlan:
        return plans.NewPlan(
            name=self.name.text(),
            price_minor=parse_price(self.price.text().strip() or "0"),
            currency=self.currency.currentText(),
            duration_days=parse_int(self.days.text(), tr("days")),
            traffic_bytes=parse_traffic(self.traffic.text()),
            reset_strategy=self.reset.currentData(),
            node_groups=tuple(g.strip() for g in self.groups.text().split(",") if g.strip()),
            description=self.description.text(),
            visible=self.visible.isChecked(),
        )

    def load(self, plan: Plan) -> None:
        self.name.setText(plan.name)
        self.price.setText(f"{plan.price_minor / 100:.2f}")
        self.currency.setCurrentText(plan.currency)
        self.days.setText(str(plan.duration_days))
        self.traffic.setText(f"{plan.traffic_bytes}B")
        self.reset.setCurrentIndex(self.reset.findData(plan.reset_strategy))
        self.groups.setText(", ".join(plan.node_groups or []))
        self.description.setText(plan.description)
        self.visible.setChecked(plan.visible)


class PlansScreen(Screen):
    topics = ("plans",)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.setObjectName("plansScreen")
        self.model = RowsModel(plan_headers, self, cells=plan_cells)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.doubleClicked.connect(lambda _i: self.edit_plan())
        self.new_button, self.edit_button, self.delete_button = (QPushButton() for _ in range(3))
        self.new_button.clicked.connect(self.new_plan)
        self.edit_button.clicked.connect(self.edit_plan)
        self.delete_button.clicked.connect(self.delete_plan)
        bar = QHBoxLayout()
        for button in (self.new_button, self.edit_button, self.delete_button):
            bar.addWidget(button)
        bar.addStretch()
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.table)
        self.retranslate_ui()
        self.refresh()

    def title(self) -> str:
        return tr("Plans")

    def retranslate_ui(self) -> None:
        self.new_button.setText(tr("New plan…"))
        self.edit_button.setText(tr("Edit…"))
        self.delete_button.setText(tr("Delete"))
        self.model.retranslate()

    def refresh(self) -> None:
        with self.ctx.read() as session:
            rows = [
                PlanRow(
                    p.id,
                    p.name,
                    money(p.price_minor, p.currency),
                    p.duration_days,
                    human_bytes(p.traffic_bytes or None, tr("unlimited")),
                    p.reset_strategy,
                    ", ".join(p.node_groups or []),
                    p.visible,
                )
                for p in plans.list_plans(session)
            ]
        self.model.set_rows(rows)

    def selected(self) -> PlanRow | None:
        index = self.table.currentIndex()
        return self.model.rows[index.row()] if index.isValid() else None

    def new_plan(self) -> PlanDialog:
        dialog = PlanDialog(self, tr("New plan"))

        def save() -> None:
            spec = dialog.spec()
            with self.ctx.write() as session:
                plans.create_plan(session, spec)

        dialog.save = save
        dialog.accepted.connect(lambda: self.ctx.bus.changed.emit("plans"))
        dialog.open()
        return dialog

    def edit_plan(self) -> PlanDialog | None:
        row = self.selected()
        if row is None:
            return None
        dialog = PlanDialog(self, tr("Edit plan"))
        with self.ctx.read() as session:
            plan = session.get(Plan, row.id)
            if plan is None:
                return None
            dialog.load(plan)

        def save() -> None:
            spec = dialog.spec()
            with self.ctx.write() as session:
                target = plans.find_plan(session, str(row.id))
                admin_lists.update_plan(session, target, spec)

        dialog.save = save
        dialog.accepted.connect(lambda: self.ctx.bus.changed.emit("plans"))
        dialog.open()
        return dialog

    def delete_plan(self) -> None:
        row = self.selected()
        if row is None or not confirm(
            self, tr("Delete plan"), tr("Delete plan {name}?").format(name=row.name)
        ):
            return
        try:
            with self.ctx.write() as session:
                admin_lists.delete_plan(session, plans.find_plan(session, str(row.id)))
        except DomainError as exc:
            report_error(self, exc)
            return
        self.ctx.bus.changed.emit("plans")
