"""Long work off the GUI thread: background loads and per-item jobs with progress.

Work functions receive a `report(item, state, message)` callback and a cancel
`threading.Event`; they run in `QThreadPool` and talk to the GUI only through
queued signals, so the window keeps painting while nodes time out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRunnable,
    Qt,
    QThreadPool,
    Signal,
)
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from vpanel_desktop.i18n import translator

log = logging.getLogger(__name__)
tr = translator("Progress")
Report = Callable[[str, str, str], None]
Index = QModelIndex | QPersistentModelIndex

RUNNING, OK, FAILED, CANCELLED, WAITING = "running", "ok", "failed", "cancelled", "waiting"


@dataclass(frozen=True, slots=True)
class ItemResult:
    item: str
    ok: bool
    message: str


JobFn = Callable[[Report, threading.Event], list[ItemResult]]


class _Signals(QObject):
    progress = Signal(str, str, str)
    finished = Signal(object)
    failed = Signal(str)


class _Runnable(QRunnable):
    def __init__(self, fn: Callable[[], Any], signals: _Signals) -> None:
        super().__init__()
        self.fn = fn
        self.signals = signals

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:
            log.warning("background task failed: %s", type(exc).__name__)
            self.signals.failed.emit(getattr(exc, "message", None) or str(exc))
            return
        self.signals.finished.emit(result)


_alive: set[_Signals] = set()


def run_in_background(
    fn: Callable[[], Any],
    on_done: Callable[[Any], None],
    on_error: Callable[[str], None] | None = None,
) -> None:
    """Run `fn` in the pool; deliver its result (or error text) on the GUI thread."""
    signals = _Signals()
    _alive.add(signals)
    signals.finished.connect(on_done)
    if on_error is not None:
        signals.failed.connect(on_error)
    signals.finished.connect(lambda _r: _alive.discard(signals))
    signals.failed.connect(lambda _e: _alive.discard(signals))
    QThreadPool.globalInstance().start(_Runnable(fn, signals))


class JobModel(QAbstractTableModel):
    """Per-item state of a running job (item, state, message)."""

    def __init__(self, items: list[str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows = [[item, WAITING, ""] for item in items]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else 3

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return (tr("Item"), tr("State"), tr("Result"))[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role != Qt.ItemDataRole.DisplayRole:
            return None
        value = self.rows[index.row()][index.column()]
        if index.column() == 1:
            return {
                RUNNING: tr("running…"),
                OK: tr("done"),
                FAILED: tr("failed"),
                CANCELLED: tr("cancelled"),
                WAITING: tr("waiting"),
            }.get(value, value)
        return value

    def update(self, item: str, state: str, message: str) -> None:
        for row, values in enumerate(self.rows):
            if values[0] == item:
                values[1], values[2] = state, message
                self.dataChanged.emit(self.index(row, 1), self.index(row, 2))
                return

    def state(self, item: str) -> tuple[str, str]:
        for values in self.rows:
            if values[0] == item:
                return values[1], values[2]
        raise KeyError(item)

    def finished_count(self) -> int:
        return sum(1 for r in self.rows if r[1] in (OK, FAILED, CANCELLED))


class ProgressDialog(QDialog):
    """Shows one job: a row per item, overall progress, Cancel while running."""

    job_finished = Signal(object)

    def __init__(self, title: str, items: list[str], fn: JobFn, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("progressDialog")
        self.resize(640, 320)
        self.model = JobModel(items, self)
        self.results: list[ItemResult] | None = None
        self.error = ""
        self.cancel_event = threading.Event()
        self.summary = QLabel(tr("Working…"))
        self.bar = QProgressBar()
        self.bar.setRange(0, max(1, len(items)))
        table = QTableView()
        table.setModel(self.model)
        table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().hide()
        self.buttons = QDialogButtonBox()
        self.cancel_button = QPushButton(tr("Cancel"))
        self.close_button = QPushButton(tr("Close"))
        self.close_button.setEnabled(False)
        self.buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.buttons.addButton(self.close_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.accept)
        layout = QVBoxLayout(self)
        for widget in (self.summary, self.bar, table, self.buttons):
            layout.addWidget(widget)
        self._fn = fn
        self._signals = _Signals()
        self._signals.progress.connect(self._on_progress)
        self._signals.finished.connect(self._on_finished)
        self._signals.failed.connect(self._on_failed)

    def start(self) -> None:
        def work() -> list[ItemResult]:
            return self._fn(self._signals.progress.emit, self.cancel_event)

        QThreadPool.globalInstance().start(_Runnable(work, self._signals))
        self.show()

    @property
    def running(self) -> bool:
        return self.results is None and not self.error

    def cancel(self) -> None:
        self.cancel_event.set()
        self.cancel_button.setEnabled(False)
        self.summary.setText(tr("Cancelling… (items already started finish first)"))

    def reject(self) -> None:
        """Closing the window while running cancels instead of abandoning the work."""
        if self.running:
            self.cancel()
            return
        super().reject()

    def _on_progress(self, item: str, state: str, message: str) -> None:
        self.model.update(item, state, message)
        self.bar.setValue(self.model.finished_count())

    def _on_finished(self, results: list[ItemResult]) -> None:
        self.results = results
        for result in results:
            self.model.update(result.item, OK if result.ok else FAILED, result.message)
        for values in self.model.rows:
            if values[1] in (WAITING, RUNNING):
                self.model.update(values[0], CANCELLED, tr("not started"))
        failed = sum(1 for r in results if not r.ok)
        self.summary.setText(
            tr("Finished: {ok} succeeded, {failed} failed.").format(
                ok=len(results) - failed, failed=failed
            )
        )
        self._finish()
        self.job_finished.emit(results)

    def _on_failed(self, message: str) -> None:
        self.error = message
        self.summary.setText(tr("Failed: {message}").format(message=message))
        self._finish()
        self.job_finished.emit([])

    def _finish(self) -> None:
        self.bar.setValue(self.bar.maximum())
        self.cancel_button.setEnabled(False)
        self.close_button.setEnabled(True)


def run_job(parent: QWidget | None, title: str, items: list[str], fn: JobFn) -> ProgressDialog:
    dialog = ProgressDialog(title, items, fn, parent)
    dialog.start()
    return dialog
