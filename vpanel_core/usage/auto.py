"""Automatic usage collection while the desktop runs: the whole fleet every few minutes
(the operator's `usage_collect_minutes`, 0 = off), so dashboards, used / remaining and the
entitlements the nodes enforce stay current without anyone clicking.

Every collection in the app, automatic or asked for ("Collect usage"), goes through one
`AutoCollector`, so two never run at once: asking while one runs joins it (its progress
and its result). Every run restarts the timer. A node that keeps failing sits out a
growing number of automatic runs (none after one failure, then 1, 3, 7… for at most about
an hour), so a dead node is not dialled every interval while the others are collected as
usual; a run asked for tries every node. `on_status` is called from whichever thread
changed the status (a Qt caller forwards it with a signal).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from vpanel_core import settings
from vpanel_core.nodes.ssh import CONNECT_TIMEOUT
from vpanel_core.secretbox import SecretBox
from vpanel_core.timeutil import utcnow
from vpanel_core.usage import refresh
from vpanel_core.usage.collect import MAX_WORKERS, Progress, State, quiet

log = logging.getLogger("vpanel.usage")
SETTING = "usage_collect_minutes"
MAX_BACKOFF = 3600.0  # seconds a failing node sits out at most (in whole intervals)


def rests(failures: int, interval: float) -> int:
    """Automatic runs a node sits out after `failures` failures in a row: 0, 1, 3, 7…, no
    more than fit in `MAX_BACKOFF` (a one-off failure is retried at the next run)."""
    if interval <= 0:
        return 0
    cap = max(1, int(MAX_BACKOFF // interval)) - 1
    return min((1 << min(failures - 1, 16)) - 1, cap)


@dataclass(frozen=True, slots=True)
class NodeOutcome:
    """How one node ended in one run."""

    name: str
    state: State
    message: str
    applied: int = 0
    backing_off: bool = False  # not tried: it failed too often lately


@dataclass(frozen=True, slots=True)
class CollectionStatus:
    interval: float = 0.0  # seconds between automatic runs; 0: off (or no loop running)
    running: bool = False
    done: int = 0  # nodes finished in the run under way, of `total`
    total: int = 0
    runs: int = 0  # runs finished so far
    last_run_at: datetime | None = None  # when the last run ended
    ok: int = 0  # the last run's nodes by outcome
    failed: int = 0
    backing_off: int = 0
    applied: int = 0  # usage records the last run applied
    error: str = ""  # what stopped the last run as a whole
    next_run_at: datetime | None = None


@dataclass(slots=True)
class _Failing:
    failures: int  # in a row
    rest: int  # automatic runs still to sit out
    message: str  # the last failure


class Run:
    """One collection, followed by everyone who asked for it while it ran."""

    def __init__(self, manual: bool, cancel: threading.Event | None = None) -> None:
        self.manual = manual
        self.cancel = cancel if cancel is not None else threading.Event()
        self.finished = threading.Event()
        self.outcomes: list[NodeOutcome] = []
        self.error: Exception | None = None
        self._listeners: list[Progress] = []
        self._latest: dict[str, tuple[State, str]] = {}
        self._lock = threading.Lock()

    def listen(self, on_progress: Progress) -> None:
        """Follow the run, first told where each node stands (a caller joining late)."""
        with self._lock:  # held while replaying, so no report overtakes it
            self._listeners.append(on_progress)
            for name, (state, message) in self._latest.items():
                on_progress(name, state, message)

    def report(self, name: str, state: State, message: str) -> None:
        with self._lock:
            self._latest[name] = (state, message)
            for listener in self._listeners:
                listener(name, state, message)

    def wait(self, cancel: threading.Event | None = None) -> None:
        """Until the run ends; `cancel` set meanwhile cancels the run (between rounds)."""
        while not self.finished.wait(0.1):
            if cancel is not None and cancel.is_set():
                self.cancel.set()


class AutoCollector:
    """The app's one usage collector: a timer thread, and runs asked for on any thread."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        box: SecretBox,
        *,
        on_status: Callable[[CollectionStatus], None] | None = None,
        minute: float = 60.0,  # seconds per minute of the setting: tests shorten it
        connect_timeout: float = CONNECT_TIMEOUT,
        max_workers: int = MAX_WORKERS,
    ) -> None:
        self.sessions = sessions
        self.box = box
        self.on_status = on_status
        self.minute = minute
        self.connect_timeout = connect_timeout
        self.max_workers = max_workers
        self._status = CollectionStatus()
        self._lock = threading.Lock()
        self._current: Run | None = None
        self._last_end: tuple[float, datetime] | None = None  # monotonic, wall clock
        self._failing: dict[uuid.UUID, _Failing] = {}  # touched by the running run only
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def status(self) -> CollectionStatus:
        with self._lock:
            return self._status

    def interval(self) -> float:
        """Seconds between automatic runs, from the operator's setting (0: off)."""
        with self.sessions() as session:
            return float(settings.get(session, SETTING)) * self.minute

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="vpanel-usage", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Cancel the run under way and wait for it (it ends after its round is applied and
        acked), so no thread is left writing to the database; later runs are refused."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            current = self._current
        deadline = time.monotonic() + timeout
        if current is not None:
            current.cancel.set()
            current.finished.wait(timeout)
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
            self._thread = None

    def reschedule(self) -> None:
        """Read the interval again now (the operator changed it)."""
        self._wake.set()

    def collect(
        self,
        *,
        manual: bool = True,
        on_progress: Progress = quiet,
        cancel: threading.Event | None = None,
    ) -> Run:
        """Collect the fleet now on this thread, or join the run under way; blocks until it
        ends. `cancel` stops it between rounds. A run asked for (`manual`) tries every
        node, backing off or not."""
        with self._lock:
            run, joined = self._current, True
            if run is None:
                run, joined = Run(manual, cancel), False
                if self._stop.is_set():
                    run.finished.set()
                    return run
                self._current = run
            run.listen(on_progress)
        if joined:
            run.wait(cancel)
        else:
            self._execute(run)
        return run

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                interval = self.interval()
            except Exception:  # the database is away for a moment: look again later
                log.exception("cannot read the usage collection interval")
                self._wake.wait(self.minute)
                self._wake.clear()
                continue
            self._schedule(interval)
            wait = self._wait(interval)
            if wait is not None and wait <= 0:
                self.collect(manual=False)
                continue
            self._wake.wait(wait)
            self._wake.clear()

    def _schedule(self, interval: float) -> None:
        """Show the interval in use and when it next runs."""
        self._publish(lambda s: replace(s, interval=interval, next_run_at=self._next_at(interval)))

    def _wait(self, interval: float) -> float | None:
        """Seconds until the next automatic run is due (None: off)."""
        if interval <= 0:
            return None
        with self._lock:
            last = self._last_end
        return 0.0 if last is None else last[0] + interval - time.monotonic()

    def _next_at(self, interval: float) -> datetime | None:
        if interval <= 0:
            return None
        last = self._last_end
        return utcnow() if last is None else last[1] + timedelta(seconds=interval)

    def _execute(self, run: Run) -> None:
        """One run on the caller's thread; it is `_current` until it ends."""
        try:
            interval = self.interval()
            with self.sessions() as session:
                links = refresh.node_links(session, self.box, connect_timeout=self.connect_timeout)
            due, resting = self._split(links, run.manual, interval)
            self._publish(lambda s: replace(s, running=True, done=0, total=len(links)))
            progress = self._progress(run)
            for outcome in resting.values():
                progress(outcome.name, outcome.state, outcome.message)
            done: list[refresh.NodeCollected] = []
            if due:
                done = refresh.collect_and_refresh(
                    self.sessions,
                    due,
                    on_progress=progress,
                    cancel=run.cancel,
                    max_workers=self.max_workers,
                )
            self._book(done, interval)
            outcomes = resting | {
                d.link.node_id: NodeOutcome(d.link.name, d.state, d.message, d.report.applied)
                for d in done
            }
            run.outcomes = [outcomes[link.node_id] for link in links]
        except Exception as exc:  # a bug or a database error must not kill the loop
            log.exception("usage collection failed")
            run.error = exc
        finally:
            self._finish(run)

    def _split(
        self, links: Sequence[refresh.NodeLink], manual: bool, interval: float
    ) -> tuple[list[refresh.NodeLink], dict[uuid.UUID, NodeOutcome]]:
        """The links to collect now, and an outcome for each node sitting this run out."""
        known = {link.node_id for link in links}
        self._failing = {node: f for node, f in self._failing.items() if node in known}
        due: list[refresh.NodeLink] = []
        resting: dict[uuid.UUID, NodeOutcome] = {}
        for link in links:
            failing = self._failing.get(link.node_id)
            if manual or failing is None or failing.rest == 0:
                due.append(link)
                continue
            failing.rest -= 1
            minutes = math.ceil((failing.rest + 1) * interval / 60)
            resting[link.node_id] = NodeOutcome(
                link.name,
                State.FAILED,
                f"backing off after {failing.failures} failures in a row "
                f"(last: {failing.message}); next try in about {minutes} min",
                backing_off=True,
            )
        return due, resting

    def _book(self, done: Sequence[refresh.NodeCollected], interval: float) -> None:
        """A node that was collected is clear; one that failed rests longer each time."""
        for collected in done:
            node = collected.link.node_id
            if collected.state == State.OK:
                self._failing.pop(node, None)
            elif collected.state == State.FAILED:
                before = self._failing.get(node)
                failures = before.failures + 1 if before is not None else 1
                self._failing[node] = _Failing(
                    failures, rests(failures, interval), collected.message
                )

    def _progress(self, run: Run) -> Progress:
        """Tell the run's followers, and count the nodes that finished."""

        def progress(name: str, state: State, message: str) -> None:
            if state != State.RUNNING:
                self._publish(lambda s: replace(s, done=s.done + 1))
            run.report(name, state, message)

        return progress

    def _finish(self, run: Run) -> None:
        outcomes, now = run.outcomes, utcnow()
        with self._lock:  # one step: a run starting meanwhile sees a consistent status
            self._current = None
            self._last_end = (time.monotonic(), now)
            self._status = status = replace(
                self._status,
                running=False,
                runs=self._status.runs + 1,
                last_run_at=now,
                ok=sum(o.state == State.OK for o in outcomes),
                failed=sum(o.state == State.FAILED and not o.backing_off for o in outcomes),
                backing_off=sum(o.backing_off for o in outcomes),
                applied=sum(o.applied for o in outcomes),
                error="" if run.error is None else getattr(run.error, "message", str(run.error)),
                next_run_at=self._next_at(self._status.interval),
            )
        self._emit(status)
        run.finished.set()
        self._wake.set()  # the loop counts the next interval from now

    def _publish(self, change: Callable[[CollectionStatus], CollectionStatus]) -> None:
        with self._lock:
            before = self._status
            self._status = status = change(before)
        if status != before:
            self._emit(status)

    def _emit(self, status: CollectionStatus) -> None:
        if self.on_status is not None:
            self.on_status(status)
