"""Dashboard: today's and this month's figures, and three charts.

Figures come from `vpanel_core.services.stats.overview`, computed off the GUI thread
(status of every user is derived from the ledger, which takes a moment at scale).
"""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout

from vpanel_core.services import stats
from vpanel_desktop.context import AppContext
from vpanel_desktop.formatting import human_bytes, money
from vpanel_desktop.i18n import translator
from vpanel_desktop.screens.base import Screen
from vpanel_desktop.widgets.chart import BarChart
from vpanel_desktop.workers import run_in_background

tr = translator("Dashboard")
CARDS = ("users", "revenue_today", "revenue_month", "traffic_today", "traffic_month", "nodes")


def _money_text(amounts: dict[str, int]) -> str:
    return " + ".join(money(v, c) for c, v in sorted(amounts.items())) or "0"


class DashboardScreen(Screen):
    topics = ("users", "orders", "nodes", "settings", "usage")

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.setObjectName("dashboardScreen")
        self.overview: stats.Overview | None = None
        self._generation = 0
        self.captions: dict[str, QLabel] = {}
        self.values: dict[str, QLabel] = {}
        grid = QGridLayout()
        for i, key in enumerate(CARDS):
            frame = QFrame()
            frame.setFrameShape(QFrame.Shape.StyledPanel)
            box = QVBoxLayout(frame)
            caption, value = QLabel(), QLabel("…")
            value.setObjectName(f"card_{key}")
            value.setStyleSheet("font-size: 20px; font-weight: bold;")
            box.addWidget(caption)
            box.addWidget(value)
            self.captions[key], self.values[key] = caption, value
            grid.addWidget(frame, i // 3, i % 3)
        self.usage_chart = BarChart()
        self.usage_chart.format_value = lambda v: human_bytes(int(v))
        self.revenue_chart = BarChart(color="#27ae60")
        self.revenue_chart.format_value = lambda v: f"{v / 100:,.2f}"
        self.top_chart = BarChart(horizontal=True, color="#8e44ad")
        self.top_chart.format_value = lambda v: human_bytes(int(v))
        charts = QGridLayout()
        charts.addWidget(self.usage_chart, 0, 0)
        charts.addWidget(self.revenue_chart, 0, 1)
        charts.addWidget(self.top_chart, 1, 0, 1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addLayout(charts, 1)
        self.retranslate_ui()
        self.refresh()

    def title(self) -> str:
        return tr("Dashboard")

    def retranslate_ui(self) -> None:
        names = {
            "users": tr("Active users"),
            "revenue_today": tr("Revenue today"),
            "revenue_month": tr("Revenue this month"),
            "traffic_today": tr("Traffic today"),
            "traffic_month": tr("Traffic this month"),
            "nodes": tr("Nodes up / down"),
        }
        for key, caption in self.captions.items():
            caption.setText(names[key])
        self.usage_chart.title = tr("Traffic per day")
        self.revenue_chart.title = tr("Revenue per day (all currencies)")
        self.top_chart.title = tr("Top users this month")
        for chart in (self.usage_chart, self.revenue_chart, self.top_chart):
            chart.update()

    def refresh(self) -> None:
        """Recompute off the GUI thread; a result overtaken by a newer refresh is dropped."""
        database = self.ctx.database
        self._generation += 1
        generation = self._generation

        def work() -> tuple[int, stats.Overview]:
            with database.sessions() as session:
                return generation, stats.overview(session)

        run_in_background(work, self._deliver, self._failed)

    def _deliver(self, result: tuple[int, stats.Overview]) -> None:
        generation, data = result
        if generation == self._generation:
            self.show_overview(data)

    def _failed(self, message: str) -> None:
        self.values["users"].setText(message)

    def show_overview(self, data: stats.Overview) -> None:
        self.overview = data
        self.values["users"].setText(f"{data.users_active} / {data.users_total}")
        self.values["revenue_today"].setText(_money_text(data.revenue_today))
        self.values["revenue_month"].setText(_money_text(data.revenue_month))
        self.values["traffic_today"].setText(human_bytes(data.traffic_today))
        self.values["traffic_month"].setText(human_bytes(data.traffic_month))
        self.values["nodes"].setText(f"{data.nodes_up} / {data.nodes_down}")
        self.usage_chart.set_data(
            [d.day.strftime("%m-%d") for d in data.usage_per_day],
            [d.value for d in data.usage_per_day],
        )
        self.revenue_chart.set_data(
            [d.day.strftime("%m-%d") for d in data.revenue_per_day],
            [d.value for d in data.revenue_per_day],
        )
        self.top_chart.set_data(
            [u.username for u in data.top_users], [u.bytes for u in data.top_users]
        )
        self.ctx.bus.status_message.emit(
            tr("Nodes: {up} up, {down} down").format(up=data.nodes_up, down=data.nodes_down)
        )
