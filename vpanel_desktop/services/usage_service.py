"""Usage collection inside the app: one `AutoCollector` for the timer and "Collect usage"
alike (so two collections never run at once), and its status as a Qt signal.

The collector calls back from whichever thread runs; `_changed` is emitted there and Qt
queues it to the GUI thread, which reads the latest status (a late callback never shows
an older state). A run that applied usage announces the "usage" topic, so the dashboard
and the Users screen's used / remaining refresh on their own.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QObject, Signal

from vpanel_core.usage.auto import AutoCollector, CollectionStatus
from vpanel_desktop.context import AppContext
from vpanel_desktop.i18n import translator
from vpanel_desktop.services import node_ops

tr = translator("Usage")
STOP_TIMEOUT = 60.0  # a run ends after its round; SSH timeouts bound that


def _clock(when: datetime) -> str:
    return when.astimezone().strftime("%H:%M:%S")


def describe(status: CollectionStatus) -> str:
    """One line for the status bar: progress, or the last run and the next."""
    if status.running:
        return tr("Usage: collecting… {done}/{total} nodes").format(
            done=status.done, total=status.total
        )
    if status.error and status.last_run_at is not None:
        head = tr("Usage: collection failed at {when}: {error}").format(
            when=_clock(status.last_run_at), error=status.error
        )
    elif status.last_run_at is not None and not status.total:
        head = tr("Usage: no enabled nodes")
    elif status.last_run_at is not None:
        head = tr("Usage: collected {when}, {ok} ok, {failed} failed").format(
            when=_clock(status.last_run_at), ok=status.ok, failed=status.failed
        )
        if status.backing_off:
            head += tr(", {count} backing off").format(count=status.backing_off)
    else:
        head = tr("Usage: not collected yet")
    if status.next_run_at is None:
        return f"{head} · {tr('automatic collection off')}"
    return f"{head} · {tr('next {when}').format(when=_clock(status.next_run_at))}"


class UsageService(QObject):
    status_changed = Signal(object)  # CollectionStatus, on the GUI thread
    _changed = Signal()

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.bus = ctx.bus
        self.collector = AutoCollector(
            ctx.database.sessions,
            ctx.box,
            on_status=lambda _status: self._changed.emit(),
            connect_timeout=node_ops.CONNECT_TIMEOUT,
            max_workers=node_ops.PARALLEL,
        )
        self._runs = 0
        self._changed.connect(self._on_changed)
        self.bus.changed.connect(self._on_topic)

    def start(self) -> None:
        self.collector.start()

    def stop(self) -> None:
        self.collector.stop(STOP_TIMEOUT)

    def _on_topic(self, topic: str) -> None:
        if topic == "settings":  # the interval may have changed
            self.collector.reschedule()

    def _on_changed(self) -> None:
        status = self.collector.status
        if status.runs > self._runs and status.applied:
            self.bus.changed.emit("usage")
        self._runs = status.runs
        self.status_changed.emit(status)
