"""Automatic sync: every few seconds while the portal answers, backing off while it does not.

`SyncLoop.status` is what the desktop shows (last sync, pending changes, last error);
`on_status` is called after every attempt (from the loop's thread: a Qt caller
forwards it with a signal). `sync_now()` wakes the loop at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from vpanel_core.errors import DomainError
from vpanel_core.sync.client import SyncClient, SyncReport
from vpanel_core.sync.errors import PeerUnreachable
from vpanel_core.timeutil import utcnow

log = logging.getLogger("vpanel.sync")


@dataclass(frozen=True, slots=True)
class SyncStatus:
    state: str = "idle"  # idle | syncing | ok | offline | error | not_paired
    last_sync_at: datetime | None = None
    last_error: str = ""
    error_code: str = ""
    pending: int = 0
    failures: int = 0
    last_report: SyncReport | None = None


class SyncLoop:
    def __init__(
        self,
        client: SyncClient,
        *,
        interval: float = 5.0,
        max_backoff: float = 120.0,
        on_status: Callable[[SyncStatus], None] | None = None,
    ) -> None:
        self.client = client
        self.interval = interval
        self.max_backoff = max_backoff
        self.on_status = on_status
        self._status = SyncStatus()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._attempts = 0

    @property
    def status(self) -> SyncStatus:
        with self._lock:
            return self._status

    @property
    def attempts(self) -> int:
        """Sync attempts made so far (tests and the UI poll it)."""
        with self._lock:
            return self._attempts

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vpanel-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current attempt (an attempt is never cut in half)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def sync_now(self) -> None:
        self._wake.set()

    def delay(self) -> float:
        """Seconds until the next attempt: the interval, doubled per consecutive failure."""
        failures = self.status.failures
        return float(min(self.interval * 2 ** min(failures, 16), self.max_backoff))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._wake.wait(self.delay())
            self._wake.clear()

    def run_once(self) -> SyncStatus:
        """One attempt, recorded in `status`; never raises."""
        if not self.client.is_paired():
            return self._publish(replace(self.status, state="not_paired"))
        self._publish(replace(self.status, state="syncing"))
        try:
            report = self.client.sync_once()
        except PeerUnreachable as exc:
            status = self._failed("offline", exc)
        except DomainError as exc:
            status = self._failed("error", exc)
        except Exception as exc:  # a bug must not kill the loop; it is shown and logged
            log.exception("sync attempt failed")
            status = self._failed("error", exc)
        else:
            status = SyncStatus("ok", utcnow(), "", "", self.client.pending(), 0, report)
        return self._publish(status)

    def _failed(self, state: str, exc: Exception) -> SyncStatus:
        code = exc.code if isinstance(exc, DomainError) else type(exc).__name__
        message = exc.message if isinstance(exc, DomainError) else str(exc)
        log.warning("sync %s: %s %s", state, code, message)
        current = self.status
        return replace(
            current,
            state=state,
            last_error=message,
            error_code=code,
            pending=self._pending(),
            failures=current.failures + 1,
        )

    def _pending(self) -> int:
        try:
            return self.client.pending()
        except Exception:
            return self.status.pending

    def _publish(self, status: SyncStatus) -> SyncStatus:
        with self._lock:
            self._status = status
            if status.state != "syncing":
                self._attempts += 1
        if self.on_status is not None:
            self.on_status(status)
        return status
