"""Portal sync inside the app: one `SyncClient` (its change tracking must see every edit
from app start), one automatic `SyncLoop`, and its status as a Qt signal.

The loop calls back from its own thread; `status_changed` is emitted there and Qt
queues it to the GUI thread. "Sync now" wakes the loop instead of syncing beside it, so
two attempts never race; the progress dialog waits for the loop to finish that attempt.
"""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from vpanel_core.sync.client import SyncClient
from vpanel_core.sync.loop import SyncLoop, SyncStatus
from vpanel_core.sync.transport import HttpTransport
from vpanel_desktop.context import AppContext
from vpanel_desktop.i18n import translator
from vpanel_desktop.workers import FAILED, OK, RUNNING, ItemResult, ProgressDialog, Report, run_job

tr = translator("Sync")
INTERVAL = 30.0
ITEM = "portal"
ATTEMPT_TIMEOUT = 300.0


def describe(status: SyncStatus) -> str:
    """One line for the status bar and the tray tooltip."""
    when = status.last_sync_at.astimezone().strftime("%H:%M:%S") if status.last_sync_at else "—"
    pending = tr("snapshot owed") if status.pending < 0 else str(status.pending)
    line = tr("Sync: {state} · last {when} · pending {pending}").format(
        state=status.state, when=when, pending=pending
    )
    return f"{line} · {status.error_code}: {status.last_error}" if status.last_error else line


class SyncService(QObject):
    status_changed = Signal(object)  # SyncStatus

    def __init__(self, ctx: AppContext, interval: float = INTERVAL) -> None:
        super().__init__()
        self.transport = HttpTransport()
        self.client = SyncClient(ctx.database, ctx.box, transport=self.transport)
        self.loop = SyncLoop(self.client, interval=interval, on_status=self.status_changed.emit)

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop(timeout=5)
        self.transport.close()  # no keep-alive connection left open on the portal

    def pair(self, portal_url: str, code: str) -> str:
        """Blocking (run it off the GUI thread); then syncs at once."""
        key = self.client.pair(portal_url.strip(), code.strip())
        self.loop.sync_now()
        return key

    def _attempt(self, report: Report, cancel: threading.Event) -> list[ItemResult]:
        report(ITEM, RUNNING, tr("syncing…"))
        # An attempt already under way may predate the caller's edits: wait for the next.
        target = self.loop.attempts + (2 if self.loop.status.state == "syncing" else 1)
        self.loop.sync_now()
        deadline = time.monotonic() + ATTEMPT_TIMEOUT
        while self.loop.attempts < target and not cancel.is_set():
            if time.monotonic() > deadline:
                return [ItemResult(ITEM, False, tr("no answer from the sync loop"))]
            cancel.wait(0.05)
        status = self.loop.status
        ok = status.state == "ok"
        report(ITEM, OK if ok else FAILED, describe(status))
        return [ItemResult(ITEM, ok, describe(status))]

    def sync_now(self, parent: QWidget | None) -> ProgressDialog:
        return run_job(parent, tr("Sync with the portal"), [ITEM], self._attempt)
