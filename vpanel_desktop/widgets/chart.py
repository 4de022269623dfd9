"""A bar chart painted with QPainter (QtCharts is not in PySide6-Essentials)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget


class BarChart(QWidget):
    """Labelled bars; `horizontal=True` for rankings (top users)."""

    def __init__(
        self, title: str = "", *, horizontal: bool = False, color: str = "#2e86de"
    ) -> None:
        super().__init__()
        self.title = title
        self.horizontal = horizontal
        self.color = QColor(color)
        self.labels: list[str] = []
        self.values: list[float] = []
        self.format_value: Callable[[float], str] = lambda v: f"{v:,.0f}"
        self.setMinimumSize(QSize(280, 180))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_data(self, labels: Sequence[str], values: Sequence[float]) -> None:
        self.labels, self.values = list(labels), list(values)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        metrics = painter.fontMetrics()
        line = metrics.height()
        painter.drawText(QRectF(8, 4, self.width() - 16, line), self.title)
        area = QRectF(8, line + 10, self.width() - 16, self.height() - 2 * line - 18)
        top = max(self.values, default=0) or 1
        if not self.values or not any(self.values):
            painter.setPen(QColor("#888"))
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "—")
            return
        if self.horizontal:
            self._paint_horizontal(painter, area, top, line)
        else:
            self._paint_vertical(painter, area, top, line)

    def _paint_vertical(self, painter: QPainter, area: QRectF, top: float, line: int) -> None:
        count = len(self.values)
        slot = area.width() / count
        step = max(1, int(count / max(1, area.width() / 60)))
        for i, value in enumerate(self.values):
            height = (area.height() - line) * value / top
            bar = QRectF(
                area.left() + i * slot + 1, area.bottom() - line - height, slot - 2, height
            )
            painter.fillRect(bar, self.color)
            if i % step == 0:
                painter.setPen(self.palette().text().color())
                painter.drawText(
                    QRectF(area.left() + i * slot, area.bottom() - line, slot * step, line),
                    Qt.AlignmentFlag.AlignLeft,
                    self.labels[i],
                )
        painter.drawText(
            QRectF(area.left(), area.top(), area.width(), line),
            Qt.AlignmentFlag.AlignRight,
            self.format_value(top),
        )

    def _paint_horizontal(self, painter: QPainter, area: QRectF, top: float, line: int) -> None:
        count = len(self.values)
        slot = min(area.height() / count, line * 1.6)
        label_width = area.width() * 0.3
        for i, value in enumerate(self.values):
            y = area.top() + i * slot
            painter.setPen(self.palette().text().color())
            painter.drawText(
                QRectF(area.left(), y, label_width - 4, slot),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                self.labels[i],
            )
            width = (area.width() - label_width) * 0.75 * value / top
            painter.fillRect(QRectF(area.left() + label_width, y + 2, width, slot - 4), self.color)
            painter.drawText(
                QRectF(area.left() + label_width + width + 4, y, area.width(), slot),
                Qt.AlignmentFlag.AlignVCenter,
                self.format_value(value),
            )
