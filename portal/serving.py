"""The lean path for subscription fetches: answered from memory, before Flask.

Profiling the cached fetch (bench_serving, SQLite, 64 connections) showed no time in
Flask worth naming but five SQL statements per request: two rate-limit reads, the link
read, and a write transaction (rate-limit counter plus access stats) that every thread
of the process queued for. So a fetch that was answered before is answered again by
`LeanPath`, a WSGI middleware in front of Flask, without touching the database:

* `LinkIndex` keeps, per link answered twice recently, what decides the answer: the
  link row as `find_link` reads it (user flags, credentials, ledger markers), the
  entitlement, and the exact headers and body Flask sent per request variant (path,
  query, User-Agent; host only without a public URL). Status is derived on every
  request from the cached expiry, allowance and usage at the request's instant, so an
  expiry takes effect on the dot.
* Freshness: about once a second (`REFRESH_SECONDS`) the housekeeper re-validates every
  indexed link and drops the entries whose row changed or vanished (disabled user,
  regenerated or revoked token, new grant or usage), whose reset period rolled over, or
  all of them when operator settings or the fleet changed (those are themselves read at
  most every `SERVING_TTL` seconds, as before). It compares the fingerprint the
  database makes of each link row with the one recorded when the entry was filled, all
  links in one statement returning one row (vpanel_core/bulk_sql.py: read row by row,
  1,000 links took 2–4 s on SQLite under full load, a GIL round trip per row, and the
  entries aged out). A change committed by any process is therefore served by every
  process after one round: about a second plus the round's own duration (50-130 ms on
  SQLite and 50-200 ms on PostgreSQL with 1,000 links under full load, bench_serving).
  An entry not re-validated for `MAX_AGE` seconds (database down, housekeeper stalled)
  is not used at all; its age counts from the instant the last round began reading the
  links, so nothing older than that is ever served from memory.
* Changes this process commits through the ORM (an admin revoking a link, a customer
  regenerating one, a payment) drop the affected users' entries when they commit
  (`LeanServing.watch`), so the process that made a change serves it at once.
* Rate limits: `SharedLimiter` counts subscription fetches per address in memory and
  adds them to the shared database counters once a second, reading back the total over
  all processes; with N processes one address can exceed the limit by what the other
  N-1 processes let through in a second. Addresses with a counted miss (token guessing)
  always take the full path, where the miss limit is checked in the database.
* Access statistics go to the per-process spool (portal/access_spool.py) before the
  answer leaves, and reach the database within `SPOOL_SECONDS` (views that show or
  reset them flush this process's spool first: `written_accesses`).
* Logging: a fetch answered here is logged at DEBUG; at INFO the housekeeper says once
  a minute how many it answered, by status. A log line per fetch cost the process a
  sixth of its time under load, and says nothing the access statistics (per link: count,
  last address, last User-Agent) and the reverse proxy's own log do not.

Anything else (first fetch, browsers, errors, conditional requests other than an exact
If-None-Match, addresses near a limit) falls through to Flask, which answers exactly as
before and fills the index with what it sent.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.http import http_date, remove_entity_headers

from portal.access_spool import AccessSpool
from portal.redact import mask_path
from vpanel_core import ratelimit, settings
from vpanel_core.entitlement import ResetStrategy, Status, derive_status, period_start
from vpanel_core.models import Grant, Subscription, User
from vpanel_core.ratelimit import Limit, RateLimited, counter_key
from vpanel_core.secrets_util import same
from vpanel_core.services import subscriptions as subs
from vpanel_core.timeutil import utcnow

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from portal.config import Limits

log = logging.getLogger(__name__)
access_log = logging.getLogger("portal.access")
REFRESH_SECONDS = 1.0
MAX_AGE = 5.0
#: entries unused this long are dropped instead of re-validated
IDLE_SECONDS = 60.0
#: entries are rebuilt by the full path this often even when nothing changed: a safety
#: net for whatever might change an answer without changing its link row (every known
#: cause does: user flags and secrets, grants, all-time usage bytes, settings, fleet,
#: period). Each entry lives between half of it and all of it, so links first served
#: together (a restart, a warm-up) are not all rebuilt in the same second; a rebuild
#: renders on a request thread, so under load every rebuild is paid for in latency.
LIFETIME_SECONDS = 600.0
INDEX_KEEP = 4096
#: links answered once, remembered to take them in on the second answer
SEEN_KEEP = 16_384
VARIANTS_KEEP = 8
#: the housekeeper thread ends after this many rounds without a fetch (restarts on
#: demand): once no entry can be used any more. Ending sooner (it was 30 s) let entries
#: meant to stay warm go past MAX_AGE, and the next burst started on the full path
#: until the woken housekeeper's first round (on PostgreSQL under load 150-500 ms:
#: bench_serving's p99 95-140 ms after each 40 s pause, 44 ms without one).
IDLE_ROUNDS = int(IDLE_SECONDS / REFRESH_SECONDS)
#: how often the fetches answered from memory are summed up in the log (INFO)
SUMMARY_SECONDS = 60.0
#: how often the housekeeper drains the access spool: one transaction then updates each
#: link fetched meanwhile once, however often it was fetched (every second, the drain
#: was a tenth of a busy process's time). Views of the statistics drain it first.
SPOOL_SECONDS = 5.0
ROUTES = (
    ("/api/subscription/", "", "token", None),
    ("/sub/", ".yaml", "token", "clash_meta"),
    ("/sub/", ".json", "token", "sing_box"),
    ("/s/", "", "short_code", None),
)
ENVIRON_KEY = "vpanel.lean"
TOUCHED = "vpanel.lean.touched"

Variant = tuple[Any, ...]  # what selects the answer (`variant`)


@dataclass(frozen=True, slots=True)
class Answer:
    """One response Flask sent, replayed as 200 or (ETag matched) 304. Remembered from
    a 304, it has no 200 part until the full path sends a 200 for the same variant."""

    ok: list[tuple[str, str]] | None
    not_modified: list[tuple[str, str]]
    body: bytes | None
    etag: str  # the ETag header's value, quotes included


@dataclass(slots=True)
class Entry:
    """One link as the full path last answered it, and its answers by variant."""

    link: subs.Link
    expiry: datetime | None
    allowance: int | None
    used: int
    period: datetime | None  # the reset period's start it was built in
    values: dict[str, Any]  # the operator settings it was built with (identity)
    fleet: subs.Fleet
    checked: float  # monotonic instant the database said all this
    used_at: float
    born: float
    share: float = field(default_factory=random.random)  # where in the lifetime range it ends
    answers: dict[Variant, Answer] = field(default_factory=dict)

    def active(self, now: datetime) -> bool:
        status = derive_status(
            enabled=self.link.enabled,
            expiry=self.expiry,
            allowance=self.allowance,
            used=self.used,
            now=now,
        )
        return status is Status.ACTIVE


@dataclass(frozen=True, slots=True)
class Pending:
    """What the full path learned about a 200 it is sending (see `LeanServing.remember`)."""

    key: tuple[str, str]
    variant: Variant
    entry: Entry


class SharedLimiter:
    """Per-address fetch counts in memory, merged with the database's once a second."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self._lock = threading.Lock()
        self._window: tuple[int, int] = (0, -1)
        self._shared: dict[str, int] = {}  # totals over all processes at the last sync
        self._local: dict[str, int] = {}  # counted here since the last sync
        self._suspects: frozenset[str] | set[str] = frozenset()

    def _roll(self, limit: Limit, now: datetime) -> int:
        """Switch to `now`'s window; returns the seconds left in it."""
        stamp = now.timestamp()
        window = (limit.seconds, int(stamp // limit.seconds))
        if window != self._window:
            self._window, self._shared, self._local = window, {}, {}
        return int((window[1] + 1) * limit.seconds - stamp) + 1

    def try_hit(self, ip: str, limit: Limit, now: datetime) -> int:
        """Count one fetch and return 0, or (limit reached, nothing counted) seconds to wait."""
        with self._lock:
            left = self._roll(limit, now)
            if self._shared.get(ip, 0) + self._local.get(ip, 0) >= limit.hits:
                return left
            self._local[ip] = self._local.get(ip, 0) + 1
            return 0

    def hit(self, ip: str, limit: Limit, now: datetime) -> None:
        left = self.try_hit(ip, limit, now)
        if left:
            raise RateLimited(left)

    def suspect(self, ip: str) -> bool:
        """A miss was counted for this address in the miss window (by any process)."""
        return counter_key(f"{self.scope}-miss", ip) in self._suspects

    def note_miss(self, ip: str) -> None:
        self._suspects = {*self._suspects, counter_key(f"{self.scope}-miss", ip)}

    def sync(self, session: Session, limits: Limits, now: datetime) -> None:
        """Add this process's counts to the shared ones; learn the totals and misses."""
        with self._lock:
            local, self._local = self._local, {}
            window = self._window
        try:
            at = datetime.fromtimestamp(window[1] * window[0], UTC) if local else now
            totals = ratelimit.add_hits(session, self.scope, local, limits.subscription, at)
            misses = ratelimit.counted_keys(
                session, f"{self.scope}-miss", limits.subscription_miss, now
            )
        except BaseException:
            with self._lock:
                if self._window == window:
                    for ip, n in local.items():
                        self._local[ip] = self._local.get(ip, 0) + n
            raise
        with self._lock:
            if self._window == window:
                self._shared.update(totals)
        self._suspects = frozenset(misses)


class LinkIndex:
    """Entries by (column, value); thread-safe, LRU-bounded.

    A link gets an entry on its second full-path answer: most links are fetched once in
    hours, and every entry costs a row in each once-a-second refresh (with every link
    taken in, bench_serving's all-users scenario filled the index with one-off links).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], Entry] = OrderedDict()
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()  # answered once

    def get(self, column: str, value: str) -> Entry | None:
        entry = self._entries.get((column, value))
        if entry is None or not same(getattr(entry.link, column), value):
            return None
        return entry

    def drop_users(self, user_ids: set[Any]) -> None:
        with self._lock:
            for key in [k for k, e in self._entries.items() if e.link.user_id in user_ids]:
                del self._entries[key]

    def put(self, pending: Pending, answer: Answer) -> None:
        with self._lock:
            entry = self._entries.get(pending.key)
            if entry is None and self._seen.pop(pending.key, False) is False:
                self._seen[pending.key] = None
                while len(self._seen) > SEEN_KEEP:
                    self._seen.popitem(last=False)
                return
            if entry is None or entry.checked < pending.entry.checked:
                entry = self._entries[pending.key] = pending.entry
            self._entries.move_to_end(pending.key)
            known = entry.answers.get(pending.variant)
            if answer.ok is None and known is not None and known.etag == answer.etag:
                answer = known  # a 304 of what is already known, 200 part included
            entry.answers[pending.variant] = answer
            while len(entry.answers) > VARIANTS_KEEP:
                del entry.answers[next(iter(entry.answers))]
            while len(self._entries) > INDEX_KEEP:
                self._entries.popitem(last=False)

    def refresh(
        self, serving: subs.ServingCache, session: Session, load: Any, lifetime: float
    ) -> None:
        """Re-validate every entry against the database (see the module docstring)."""
        started = time.monotonic()
        now = utcnow()
        with self._lock:
            entries = list(self._entries.items())
        values = serving.settings(session, load)
        fleet = serving.fleet(session)
        wanted = {
            e.link.subscription_id for _key, e in entries if started - e.used_at < IDLE_SECONDS
        }
        read = time.monotonic()  # MAX_AGE counts from here: the data is no older
        current = subs.link_fingerprints(session, wanted)
        zone = settings.zone(str(values["timezone"]))
        stale = []
        for key, e in entries:
            strategy = ResetStrategy(e.link.reset_strategy)
            if (
                e.link.fingerprint not in current
                or e.values is not values
                or e.fleet is not fleet
                or period_start(strategy, now, zone) != e.period
                or started - e.born >= lifetime * (1 + e.share) / 2
            ):
                stale.append(key)
            else:
                e.checked = max(e.checked, read)
        with self._lock:
            for key in stale:
                self._entries.pop(key, None)


class LeanServing:
    """The lean path's state and its once-a-second housekeeping, one per app."""

    def __init__(
        self,
        serving: subs.ServingCache,
        spool: AccessSpool,
        unit: Callable[[], AbstractContextManager[Session]],
        load_settings: Callable[[Session], dict[str, Any]],
        limits: Callable[[], Limits],
    ) -> None:
        self.serving = serving
        self.spool = spool
        self.index = LinkIndex()
        self.lifetime = LIFETIME_SECONDS
        self.limiter = SharedLimiter("sub")
        self._unit = unit
        self._load_settings = load_settings
        self._limits = limits  # the app's current ones (tests swap the config at run time)
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._stopped = threading.Event()
        self._failing: set[int] = set()  # housekeeping steps whose last run failed
        self._fetches = 0  # counted by `record`, read by the housekeeper to notice idleness
        self._answered: Counter[str] = Counter()  # by status, since the last summary
        self._answered_lock = threading.Lock()
        self._summary_since = time.monotonic()

    def watch(self, sessions: sessionmaker[Session]) -> None:
        """Drop the entries of users whose row, link or grants a session of `sessions`
        changed, when it commits (Core bulk writes, e.g. access stats, are not seen)."""

        def note(session: Session, _context: Any) -> None:
            touched: set[Any] = session.info.setdefault(TOUCHED, set())
            for obj in (*session.new, *session.dirty, *session.deleted):
                if isinstance(obj, User):
                    touched.add(obj.id)
                elif isinstance(obj, Subscription | Grant):
                    touched.add(obj.user_id)

        def drop(session: Session) -> None:
            touched = session.info.pop(TOUCHED, None)
            if touched:
                self.index.drop_users(touched)

        event.listen(sessions, "after_flush", note)
        event.listen(sessions, "after_commit", drop)
        event.listen(sessions, "after_rollback", lambda session: session.info.pop(TOUCHED, None))

    def record(self, subscription_id: Any, ip: str, ua: str, now: datetime) -> None:
        """Spool one fetch (answered by either path) and make sure it gets written."""
        self.spool.record(subscription_id, ip, ua, now)
        self._fetches += 1
        self.wake()

    def answered(self, status: str) -> None:
        """Count a fetch this path answered, for the periodic summary."""
        with self._answered_lock:
            self._answered[status] += 1

    def summarize(self, now: float, *, due_or_not: bool = False) -> None:
        """Log how many fetches were answered from memory since the last summary: once
        `SUMMARY_SECONDS` have passed, or at once with `due_or_not` (going idle, stopping)."""
        since = self._summary_since
        if now - since < SUMMARY_SECONDS and not due_or_not:
            return
        with self._answered_lock:
            counts, self._answered = self._answered, Counter()
        self._summary_since = now
        if counts:
            statuses = ", ".join(f"{status}: {n}" for status, n in sorted(counts.items()))
            access_log.info(
                "answered %d subscription fetches from memory in %.0f s (%s)",
                counts.total(),
                now - since,
                statuses,
            )

    def remember(self, environ: WSGIEnvironment, pending: Pending) -> None:
        """Called by the full path before it answers a client: if the answer is a 200 or
        304, `LeanPath` stores it for the next identical fetch."""
        environ[ENVIRON_KEY] = pending

    def wake(self) -> None:
        """Make sure the housekeeper runs (it stops itself when fetches stop)."""
        if self._stopped.is_set() or (self._thread is not None and self._thread.is_alive()):
            return
        with self._thread_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="vpanel-serving", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """End the housekeeper (an app being torn down: its database may go next)."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=REFRESH_SECONDS * 5)
        self.summarize(time.monotonic(), due_or_not=True)

    def _run(self) -> None:
        # A round right away: woken after a pause, every entry is past MAX_AGE and each
        # fetch takes the full path until a round re-validates them (waiting a second
        # first cost the first second of every burst a p99 of 110-160 ms, bench_serving).
        idle = 0
        spool_due = time.monotonic() + SPOOL_SECONDS
        while True:
            now = time.monotonic()
            self.housekeeping(drain_spool=now >= spool_due)
            if now >= spool_due:
                spool_due = now + SPOOL_SECONDS
            seen = self._fetches
            if self._stopped.wait(REFRESH_SECONDS):
                return
            idle = idle + 1 if self._fetches == seen else 0
            if idle >= IDLE_ROUNDS:
                break
        self.housekeeping()  # going idle: leave nothing in the spool
        self.summarize(time.monotonic(), due_or_not=True)

    def housekeeping(self, *, drain_spool: bool = True) -> None:
        """Re-validate the index, share rate-limit counts, drain the spool; each step on
        its own so a failing one (database down) does not stop the others next time."""
        steps: tuple[Callable[[], object], ...] = (
            lambda: self._in_unit(
                lambda s: self.index.refresh(self.serving, s, self._load_settings, self.lifetime)
            ),
            lambda: self._in_unit(lambda s: self.limiter.sync(s, self._limits(), utcnow())),
            self.spool.flush if drain_spool else lambda: None,
            lambda: self.summarize(time.monotonic()),
        )
        for number, step in enumerate(steps):
            try:
                step()
            except Exception:
                # Once per outage, not once a second for as long as the database is away.
                if number not in self._failing:
                    self._failing.add(number)
                    log.warning("serving housekeeping step failed; retrying", exc_info=True)
            else:
                if number in self._failing:
                    self._failing.discard(number)
                    log.info("serving housekeeping step recovered")

    def _in_unit(self, work: Callable[[Session], None]) -> None:
        with self._unit() as session:
            work(session)


class LeanPath:
    """WSGI middleware: answers indexed subscription fetches, passes everything else on."""

    def __init__(self, app: WSGIApplication, state: Callable[[], Any]) -> None:
        self.app = app
        self.state = state  # -> PortalState (read per request: tests swap it)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET":
            route = match(environ.get("PATH_INFO", ""))
            if route is not None:
                answered = self.answer(environ, start_response, route)
                if answered is not None:
                    return answered
                return self.full(environ, start_response)
        return self.app(environ, start_response)

    def answer(
        self, environ: WSGIEnvironment, start_response: StartResponse, route: tuple[str, str, Any]
    ) -> list[bytes] | None:
        column, value, forced = route
        if "text/html" in environ.get("HTTP_ACCEPT", "") or any(
            h in environ for h in ("HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH", "HTTP_RANGE")
        ):
            return None  # browsers and rarer conditionals: the full path decides
        state = self.state()
        lean: LeanServing = state.lean
        entry = lean.index.get(column, value)
        if entry is None or time.monotonic() - entry.checked >= MAX_AGE:
            return None
        answer = entry.answers.get(variant(environ, forced, state.config.public_url))
        if answer is None:
            return None
        date = ("Date", http_date(now := utcnow()))
        if environ.get("HTTP_IF_NONE_MATCH") == answer.etag:  # no body is touched
            status, headers, body = "304 NOT MODIFIED", [*answer.not_modified, date], []
        elif answer.ok is not None and answer.body is not None:
            status, headers, body = "200 OK", [*answer.ok, date], [answer.body]
        else:
            return None  # only a 304 was remembered
        ip = (environ.get("REMOTE_ADDR") or "unknown")[:64]
        if not entry.active(now) or lean.limiter.suspect(ip):
            return None
        if lean.limiter.try_hit(ip, state.config.limits.subscription, now):
            return None  # the full path answers 429
        entry.used_at = time.monotonic()
        lean.record(entry.link.subscription_id, ip, environ.get("HTTP_USER_AGENT", "")[:255], now)
        start_response(status, headers)
        lean.answered(status[:3])
        if access_log.isEnabledFor(logging.DEBUG):
            access_log.debug(
                "%s %s %s %s", "GET", mask_path(environ.get("PATH_INFO", "")), status[:3], ip
            )
        return body

    def full(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Flask answers; a 200 or 304 the view marked as remembered goes into the index."""
        sent: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            sent[:] = [status, headers]
            return start_response(status, headers, *exc)

        body = self.app(environ, capture)
        pending: Pending | None = environ.get(ENVIRON_KEY)
        if pending is None or not sent or sent[0][:3] not in ("200", "304"):
            return body
        try:
            data = b"".join(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        headers = [(k, v) for k, v in sent[1] if k.lower() != "date"]
        if not any(k.lower() == "set-cookie" for k, _v in headers):  # never replay a cookie
            etag = next((v for k, v in headers if k.lower() == "etag"), "")
            not_modified = list(headers)
            remove_entity_headers(not_modified)  # as werkzeug does for a 304
            if sent[0].startswith("304"):
                answer = Answer(None, not_modified, None, etag)
            else:
                answer = Answer(headers, not_modified, data, etag)
            self.state().lean.index.put(pending, answer)
        return [data]


def match(path: str) -> tuple[str, str, str | None] | None:
    """(column, value, forced format) of a subscription path, else None."""
    for prefix, suffix, column, forced in ROUTES:
        if path.startswith(prefix) and path.endswith(suffix):
            value = path[len(prefix) : len(path) - len(suffix)]
            if value and "/" not in value and "." not in value:
                return column, value, forced
    return None


def variant(environ: WSGIEnvironment, forced: str | None, public_url: str) -> Variant:
    """What selects the answer. Links in it follow the request's scheme and Host only when
    no public URL is configured (`site.base_url`); with one, every Host shares an answer
    (several processes behind one proxy, a CDN name and a direct name)."""
    request = (forced, environ.get("QUERY_STRING", ""), environ.get("HTTP_USER_AGENT", "")[:255])
    if public_url:
        return request
    return (*request, environ.get("wsgi.url_scheme"), environ.get("HTTP_HOST"))
