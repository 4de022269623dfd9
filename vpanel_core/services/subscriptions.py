"""Serving a subscription link: resolve the token, check the entitlement, build the proxies.

The portal's subscription endpoints, dashboard and admin API all go through here, so a
disabled / expired / over-quota user gets the same answer everywhere.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Collection, Hashable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Text,
    Uuid,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload
from sqlalchemy.types import TypeEngine

from vpanel_core import bulk_sql, settings
from vpanel_core.client_view import user_proxies
from vpanel_core.entitlement import (
    Entitlement,
    ResetStrategy,
    Status,
    compute_allowance,
    compute_expiry,
    derive_status,
    effective_grants,
    period_start,
    usage_floor,
)
from vpanel_core.errors import NotFound
from vpanel_core.models import Grant, Inbound, Node, Subscription, UsageTotal, User, UTCDateTime
from vpanel_core.proxies import ClientProxy
from vpanel_core.secrets_util import same
from vpanel_core.services import ledger, users
from vpanel_core.subscription_errors import (
    SubscriptionNotFound,
    TrafficExceeded,
    UserDisabled,
    UserExpired,
)
from vpanel_core.timeutil import require_aware, utcnow
from vpanel_core.usage.period import last_activity, period_usage

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
SHORT_CODE_RE = re.compile(r"[A-Za-z0-9]{8}")
STATUS_ERRORS = {
    Status.DISABLED: UserDisabled,
    Status.EXPIRED: UserExpired,
    Status.TRAFFIC_EXCEEDED: TrafficExceeded,
}


@dataclass(frozen=True, slots=True)
class Usage:
    """Bytes moved in the current period, split the way Subscription-Userinfo reports them."""

    upload: int = 0
    download: int = 0
    last_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    subscription: Subscription
    user: User
    entitlement: Entitlement
    usage: Usage
    changed_at: datetime

    @property
    def status(self) -> Status:
        return self.entitlement.status


def by_token(session: Session, token: str) -> Subscription:
    """The subscription with this token; malformed and unknown tokens fail alike."""
    return _lookup(session, Subscription.token, token, TOKEN_RE)


def by_short_code(session: Session, code: str) -> Subscription:
    return _lookup(session, Subscription.short_code, code, SHORT_CODE_RE)


def _lookup(
    session: Session, column: InstrumentedAttribute[str], value: str, shape: re.Pattern[str]
) -> Subscription:
    if not shape.fullmatch(value):
        raise SubscriptionNotFound()
    sub = session.scalars(
        select(Subscription).where(column == value).options(selectinload(Subscription.user))
    ).first()
    stored: str = getattr(sub, column.key) if sub is not None else value
    # The index lookup found the row; the constant-time compare is what decides.
    if sub is None or not same(stored, value):
        raise SubscriptionNotFound()
    return sub


def usage_since(
    session: Session, user_id: uuid.UUID, floor: datetime | None, tz: ZoneInfo, now: datetime
) -> Usage:
    """Uplink and downlink of one user since `floor` (None: all time), and last activity."""
    up, down = period_usage(session, {user_id: floor}, tz, now).get(user_id, (0, 0))
    return Usage(up, down, last_activity(session, user_id))


def state(session: Session, sub: Subscription, now: datetime | None = None) -> SubscriptionState:
    """Entitlement, period usage and the instant the served content last changed."""
    now = require_aware(now or utcnow())
    user = sub.user
    ent = ledger.entitlement(session, user, now)
    live = effective_grants(ledger.grants_by_user(session, [user.id]).get(user.id, []))
    tz = settings.operator_zone(session)
    usage = usage_since(session, user.id, usage_floor(live, ent.period_start, tz), tz, now)
    last_grant = session.scalar(select(func.max(Grant.created_at)).where(Grant.user_id == user.id))
    candidates = [user.updated_at, sub.created_at, last_grant, usage.last_at, ent.period_start]
    changed = max(require_aware(c) for c in candidates if c is not None)
    return SubscriptionState(sub, user, ent, usage, changed)


def require_serviceable(current: SubscriptionState) -> None:
    """Raise the coded 403 for a disabled, expired or over-quota user."""
    error = STATUS_ERRORS.get(current.status)
    if error is not None:
        raise error()


@dataclass(frozen=True, slots=True)
class Fleet:
    """Every node with its inbounds, loaded once per change and shared by all requests.

    `version` numbers distinct contents within this process; the nodes are transient
    copies in no session (read-only: nothing may modify them).
    """

    version: int
    nodes: tuple[Node, ...]
    changed_at: datetime | None


#: between the columns in `_row_text`, and in place of a NULL: control characters no
#: column's text holds (identifiers, numbers, timestamps, generated secrets, names the
#: operator typed, and JSON, which escapes them; none of it is the customer's)
_FIELD, _NULL = "\x1f", "\x1d"


def _row_text(columns: Sequence[Any]) -> ColumnElement[str]:
    """`columns` as one text, made by the database: equal texts, equal values."""
    texts = [func.coalesce(cast(c, Text), _NULL) for c in columns]
    return functools.reduce(lambda a, b: a + _FIELD + b, texts)


_FLEET_KEEP = 4
_fleets: OrderedDict[frozenset[str], Fleet] = OrderedDict()
_fleets_lock = threading.Lock()
_fleet_versions = itertools.count(1)
_NODE_COLUMNS = tuple(Node.__table__.c)
_INBOUND_COLUMNS = tuple(Inbound.__table__.c)
_FLEET_FROM = Node.__table__.outerjoin(Inbound.__table__)
_FLEET_TEXT = _row_text(_NODE_COLUMNS + _INBOUND_COLUMNS)


def _fleet_rows(session: Session) -> tuple[frozenset[str], tuple[Any, ...]]:
    """Every column of every node and inbound, in one query: the fleet's exact content,
    and the rows' texts (its key in `_fleets`).

    Reading ~250 plain rows costs a fraction of building 250 ORM objects per request
    (bench_serving: 9 ms of ~10 ms per cached fetch).
    """
    query = (
        select(_FLEET_TEXT, *_NODE_COLUMNS, *_INBOUND_COLUMNS)
        .select_from(_FLEET_FROM)
        .order_by(Node.__table__.c.name, Inbound.__table__.c.listen_port, Inbound.__table__.c.id)
    )
    rows = session.execute(query).all()
    return frozenset(row[0] for row in rows), tuple(tuple(row[1:]) for row in rows)


def _values(
    model: type[Node] | type[Inbound], columns: Sequence[Any], row: Sequence[Any]
) -> dict[str, Any]:
    mapper = model.__mapper__
    return {mapper.get_property_by_column(c).key: v for c, v in zip(columns, row, strict=True)}


def _build_fleet(rows: tuple[Any, ...]) -> Fleet:
    """Transient Node/Inbound objects from the rows: in no session, so no request's
    commit, rollback or expunge can touch them."""
    nodes: dict[Any, Node] = {}
    split = len(_NODE_COLUMNS)
    inbound_id = _INBOUND_COLUMNS.index(Inbound.__table__.c.id)
    node_id = _NODE_COLUMNS.index(Node.__table__.c.id)
    for row in rows:
        node = nodes.get(row[node_id])
        if node is None:
            node = nodes[row[node_id]] = Node(**_values(Node, _NODE_COLUMNS, row[:split]))
        if row[split + inbound_id] is not None:
            node.inbounds.append(Inbound(**_values(Inbound, _INBOUND_COLUMNS, row[split:])))
    stamps = [n.last_push_at or n.created_at for n in nodes.values()]
    return Fleet(next(_fleet_versions), tuple(nodes.values()), max(stamps, default=None))


def fleet(session: Session) -> Fleet:
    """The current fleet; objects are rebuilt only when a node or inbound changed.

    Whether one did, the rows' texts tell, read as one row (`bulk_sql`: a row per node
    and inbound cost the portal's housekeeper a GIL round trip each); the rows themselves
    are read only when they changed, and keyed by their own texts (the fleet may have
    changed again in between)."""
    known = frozenset(bulk_sql.gathered(session, select(_FLEET_TEXT).select_from(_FLEET_FROM)))
    with _fleets_lock:
        found = _fleets.get(known)
        if found is not None:
            _fleets.move_to_end(known)
            return found
    key, rows = _fleet_rows(session)
    built = _build_fleet(rows)
    with _fleets_lock:
        _fleets[key] = built
        while len(_fleets) > _FLEET_KEEP:
            _fleets.popitem(last=False)
    return built


def content_version(current: Fleet, user: User) -> Hashable:
    """Equal for equal proxies: the fleet plus everything `user_proxies` reads of the user."""
    return (current.version, user.credential, user.proxy_secret, tuple(user.node_groups or ()))


def proxies_for(session: Session, user: User) -> tuple[list[ClientProxy], datetime | None]:
    """The user's proxies and the newest node change (push or creation) behind them."""
    current = fleet(session)
    return user_proxies(current.nodes, user), current.changed_at


@dataclass(frozen=True, slots=True)
class Access:
    """Fetches of one link since the last write: how many, and the newest one."""

    count: int
    last_at: datetime
    last_ip: str
    last_ua: str


def record_access(
    session: Session, subscription_id: uuid.UUID, ip: str, user_agent: str, now: datetime
) -> None:
    """One fetch, written at once (the portal batches through `record_accesses`)."""
    record_accesses(session, {subscription_id: Access(1, now, ip, user_agent)})


def record_accesses(session: Session, accesses: Mapping[uuid.UUID, Access]) -> None:
    """Add batched fetches (portal/access_spool.py) to the links' statistics.

    On SQLite one UPDATE … FROM the rows as JSON (`bulk_sql`: an executemany costs the
    draining thread a GIL round trip per link). On PostgreSQL one executemany, which
    psycopg pipelines in one round trip and which locks the rows in id order, so
    processes draining the same links never deadlock. The newest-fetch columns only move
    forward: a batch drained late (left by a killed process) must not overwrite a newer
    fetch another process already wrote.
    """
    s = Subscription
    rows = [
        (sid, a.count, a.last_at, a.last_ip[:64], a.last_ua[:255])
        for sid, a in sorted(accesses.items())
    ]
    if session.get_bind().dialect.name == "postgresql":
        names = ("sid", "n", "at", "ip", "ua")
        values = _counted(*(bindparam(name) for name in names[1:]))
        stmt = update(s).where(s.id == bindparam("sid")).values(values)
        session.connection().execute(stmt, [dict(zip(names, row, strict=True)) for row in rows])
        return
    types: dict[str, TypeEngine[Any]] = {
        "sid": Uuid(),
        "n": BigInteger(),
        "at": UTCDateTime(),
        "ip": Text(),
        "ua": Text(),
    }
    batch = bulk_sql.table(session, types, rows).c
    values = _counted(batch.n, batch.at, batch.ip, batch.ua)
    # Core, not the ORM's UPDATE (which would read back every row it updated).
    session.connection().execute(update(s).where(s.id == batch.sid).values(values))


def _counted(n: Any, at: Any, ip: Any, ua: Any) -> dict[str, Any]:
    """The SET clause adding `n` fetches, the newest at `at` (if newer than the stored one)."""
    s = Subscription
    newer = or_(s.last_access_at.is_(None), s.last_access_at < at)
    return {
        "access_count": s.access_count + n,
        "last_access_at": case((newer, at), else_=s.last_access_at),
        "last_access_ip": case((newer, ip), else_=s.last_access_ip),
        "last_access_ua": case((newer, ua), else_=s.last_access_ua),
    }


def regenerate(session: Session, user: User) -> Subscription:
    """New token and short code; the old ones stop working when this commits."""
    return users.issue_subscription(session, user)


def of_user(session: Session, user_id: uuid.UUID) -> Subscription:
    sub = session.scalars(select(Subscription).where(Subscription.user_id == user_id)).first()
    if sub is None:
        raise NotFound(f"user {user_id} has no subscription")
    return sub


def revoke(session: Session, user_id: uuid.UUID) -> None:
    """Delete the user's link (admin action); the user can issue a new one from the portal."""
    session.delete(of_user(session, user_id))
    session.flush()


def reset_stats(session: Session, user_id: uuid.UUID) -> Subscription:
    sub = of_user(session, user_id)
    sub.access_count = 0
    sub.last_access_at = None
    sub.last_access_ip = ""
    sub.last_access_ua = ""
    session.flush()
    return sub


@dataclass(frozen=True, slots=True)
class Row:
    user: User
    subscription: Subscription | None
    entitlement: Entitlement


@dataclass(frozen=True, slots=True)
class Page:
    rows: Sequence[Row]
    total: int


def search(
    session: Session,
    *,
    query: str = "",
    status: Status | None = None,
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> Page:
    """Users with their links and status for the admin list; status filters after deriving."""
    stmt = select(User).options(selectinload(User.subscription)).order_by(User.created_at, User.id)
    if query:
        pattern = f"%{query}%"
        stmt = stmt.where(
            or_(User.username.ilike(pattern), User.email.ilike(pattern), User.alias.ilike(pattern))
        )
    if status is None:
        total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        page = session.scalars(stmt.limit(limit).offset(offset)).all()
        ents = ledger.entitlements(session, page, now)
        return Page([Row(u, u.subscription, ents[u.id]) for u in page], total)
    everyone = session.scalars(stmt).all()
    ents = ledger.entitlements(session, everyone, now)
    matching = [u for u in everyone if ents[u.id].status is status]
    page = matching[offset : offset + limit]
    return Page([Row(u, u.subscription, ents[u.id]) for u in page], len(matching))


# --- The hot path: serving a link to a proxy client ----------------------------------
#
# A cached fetch costs one read (the link joined with its user and the user's ledger
# markers) and one write (rate-limit counter plus access stats). Everything else comes
# from `ServingCache`, per process:
#
# * the entitlement (expiry, allowance, period usage), by user id. The read brings the
#   number and newest creation time of the user's grants, the user's newest usage record
#   and reset strategy, and an entry whose markers differ is recomputed at once; status
#   is derived on every request from the fresh `enabled` flag and `now`, so a payment
#   (in any process), a disable or an expiry takes effect on the very request. What an
#   entry can miss for up to `ttl` seconds: usage records that arrive late with an
#   older end than the newest one seen (node journals replayed out of order);
# * operator settings and the fleet (nodes with inbounds), read once per `ttl`;
#   `invalidate` drops them when this process writes them (sync publish). A change made
#   by another process shows within `ttl` seconds.

SERVING_TTL = 5.0
_ENTITLEMENT_KEEP = 20_000


@dataclass(frozen=True, slots=True)
class _Cached:
    """A user's ledger-derived facts, valid while the markers match and `ttl` lasts."""

    markers: tuple[Any, ...]
    expiry: datetime | None
    allowance: int | None
    usage: Usage
    last_grant: datetime | None
    loaded: float


class ServingCache:
    """Per-process caches of the subscription hot path (thread-safe)."""

    def __init__(self, ttl: float = SERVING_TTL) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._settings: tuple[float, dict[str, Any]] | None = None
        self._fleet: tuple[float, Fleet] | None = None
        self._entitlements: OrderedDict[uuid.UUID, _Cached] = OrderedDict()

    def writer(self, dialect: str) -> AbstractContextManager[Any]:
        """A lock for the short write of a fetch on SQLite (one writer at a time anyway)."""
        return self._write_lock if dialect == "sqlite" else nullcontext()

    def invalidate(self, user_id: uuid.UUID | None = None) -> None:
        """Forget one user's entitlement, or (no id) everything this cache holds."""
        with self._lock:
            if user_id is not None:
                self._entitlements.pop(user_id, None)
                return
            self._settings = self._fleet = None
            self._entitlements.clear()

    def settings(self, session: Session, load: Any) -> dict[str, Any]:
        """`load(session)` at most once per `ttl`."""
        now = time.monotonic()
        held = self._settings
        if held is not None and now - held[0] < self.ttl:
            return held[1]
        values: dict[str, Any] = load(session)
        if held is not None and held[1] == values:
            values = held[1]  # unchanged: the same object, so what was built on it stays
        self._settings = (now, values)
        return values

    def fleet(self, session: Session) -> Fleet:
        now = time.monotonic()
        held = self._fleet
        if held is not None and now - held[0] < self.ttl:
            return held[1]
        current = fleet(session)
        self._fleet = (now, current)
        return current

    def _get(self, user_id: uuid.UUID, markers: tuple[Any, ...]) -> _Cached | None:
        with self._lock:
            entry = self._entitlements.get(user_id)
            if entry is None:
                return None
            if entry.markers != markers or time.monotonic() - entry.loaded >= self.ttl:
                del self._entitlements[user_id]
                return None
            self._entitlements.move_to_end(user_id)
            return entry

    def _put(self, user_id: uuid.UUID, entry: _Cached) -> None:
        with self._lock:
            self._entitlements[user_id] = entry
            self._entitlements.move_to_end(user_id)
            while len(self._entitlements) > _ENTITLEMENT_KEEP:
                self._entitlements.popitem(last=False)

    def entitlement(
        self, session: Session, link: Link, tz: ZoneInfo, now: datetime
    ) -> tuple[Entitlement, Usage, datetime]:
        """The link's entitlement, period usage and last content change, as `state` has them."""
        strategy = ResetStrategy(link.reset_strategy)
        start = period_start(strategy, now, tz)
        markers = (link.grant_count, link.last_grant, link.usage_bytes, strategy, start)
        entry = self._get(link.user_id, markers)
        if entry is None:
            live = effective_grants(
                ledger.grants_by_user(session, [link.user_id]).get(link.user_id, [])
            )
            usage = usage_since(session, link.user_id, usage_floor(live, start, tz), tz, now)
            entry = _Cached(
                markers,
                compute_expiry(live),
                compute_allowance(live, strategy, start),
                usage,
                link.last_grant,
                time.monotonic(),
            )
            self._put(link.user_id, entry)
        usage = entry.usage
        used = usage.upload + usage.download
        status = derive_status(
            enabled=link.enabled, expiry=entry.expiry, allowance=entry.allowance, used=used, now=now
        )
        ent = Entitlement(entry.expiry, entry.allowance, used, start, status)
        candidates = [link.updated_at, link.created_at, entry.last_grant, usage.last_at, start]
        changed = max(require_aware(c) for c in candidates if c is not None)
        return ent, usage, changed


@dataclass(frozen=True, slots=True)
class Link:
    """What the one fresh read per fetch returns: the link, its user, the ledger markers.

    Duck-types the `User` fields `user_proxies` and `content_version` read, and the
    `Subscription` fields `links.subscription_url` reads.
    """

    subscription_id: uuid.UUID
    user_id: uuid.UUID
    token: str
    short_code: str
    created_at: datetime
    enabled: bool
    reset_strategy: str
    updated_at: datetime
    credential: uuid.UUID
    proxy_secret: str
    node_groups: list[str] | None
    grant_count: int
    last_grant: datetime | None
    last_usage: datetime | None
    # All-time bytes: any newly applied usage changes it, a late record included.
    usage_bytes: int | None
    # The text of all the above, made by the database: compared with `link_fingerprints`
    # it tells whether the row changed.
    fingerprint: str


def _link_query() -> Any:
    s, u = Subscription.__table__.c, User.__table__.c
    g, t = Grant.__table__.c, UsageTotal.__table__.c
    grant_count = select(func.count()).where(g.user_id == s.user_id).scalar_subquery()
    last_grant = select(func.max(g.created_at)).where(g.user_id == s.user_id).scalar_subquery()
    last_usage = select(t.last_at).where(t.user_id == s.user_id).scalar_subquery()
    usage_bytes = select(t.uplink + t.downlink).where(t.user_id == s.user_id).scalar_subquery()
    columns = (
        s.id,
        s.user_id,
        s.token,
        s.short_code,
        s.created_at,
        u.enabled,
        u.reset_strategy,
        u.updated_at,
        u.credential,
        u.proxy_secret,
        u.node_groups,
        grant_count,
        last_grant,
        last_usage,
        usage_bytes,
    )
    return select(*columns, _row_text(columns).label("fingerprint")).join_from(
        Subscription.__table__, User.__table__, s.user_id == u.id
    )


_LINK_QUERY = _link_query()
_LINK_COLUMNS = {
    "token": Subscription.__table__.c.token,
    "short_code": Subscription.__table__.c.short_code,
}


def find_link(session: Session, column: str, value: str) -> Link:
    """The link whose `column` ("token" or "short_code") is `value`, read fresh every time
    (a regenerated token or disabled user counts at once); unknown and malformed fail alike."""
    shape = TOKEN_RE if column == "token" else SHORT_CODE_RE
    if not shape.fullmatch(value):
        raise SubscriptionNotFound()
    row = session.execute(_LINK_QUERY.where(_LINK_COLUMNS[column] == value)).first()
    stored: str = getattr(row, column) if row is not None else value
    # The index lookup found the row; the constant-time compare is what decides.
    if row is None or not same(stored, value):
        raise SubscriptionNotFound()
    return Link(*row)


def link_fingerprints(session: Session, subscription_ids: Collection[uuid.UUID]) -> set[str]:
    """The `Link.fingerprint`s of the links with these ids now (a revoked link has none),
    in one statement: which cached links changed, without reading a row per link."""
    if not subscription_ids:
        return set()
    ids = bulk_sql.table(session, {"id": Uuid()}, [[i] for i in subscription_ids])
    query = _LINK_QUERY.with_only_columns(_LINK_QUERY.selected_columns.fingerprint).where(
        Subscription.__table__.c.id.in_(select(ids.c.id))
    )
    return set(bulk_sql.gathered(session, query))
