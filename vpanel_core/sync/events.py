"""Portal side: the append-only event log and the pages the desktop pulls from it.

Events are small facts ("user X registered", "grant G added"); a page carries, next to
the events, the *current* state of every user they name (row, subscription, grants,
orders, payments), so applying a page is idempotent and an event pulled late still
brings the latest state. Subscription access statistics travel separately (by time),
so the hot subscription path writes no event.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from vpanel_core.models import Order, Payment, Subscription
from vpanel_core.sync import capture, ordering
from vpanel_core.sync.capture import Touch
from vpanel_core.sync.models import SyncEvent
from vpanel_core.sync.publication import users_payload
from vpanel_core.sync.rows import dump
from vpanel_core.timeutil import utcnow

TABLES = frozenset({"users", "subscriptions", "grants", "orders", "payments"})
PLAN_FIELDS = ("plan_id", "reset_strategy", "node_groups")
CUSTOMER_FIELDS = ("email", "email_verified", "password_hash", "alias", "locale")
ACCESS_PAGE = 5000


def record_event(
    session: Session, kind: str, payload: dict[str, Any], *, user_id: uuid.UUID | None = None
) -> None:
    """Append one event in the caller's transaction (numbered in commit order)."""
    _append(session, [(kind, user_id, payload)])


def _append(session: Session, items: list[tuple[str, uuid.UUID | None, dict[str, Any]]]) -> None:
    if not items:
        return
    ordering.serialize(session, "events")
    now = utcnow()
    session.connection().execute(
        insert(SyncEvent),
        [{"kind": k, "user_id": u, "payload": p, "created_at": now} for k, u, p in items],
    )


def track_events(factory: sessionmaker[Session]) -> None:
    """Make every transaction of `factory` log the customer-side facts it writes."""
    capture.install(factory, TABLES, _record)


def _record(session: Session, touches: list[Touch]) -> None:
    payments = [t.row for t in touches if t.table == "payments"]
    payment_users = capture.user_of_payment(session, payments) if payments else {}
    items = [item for t in touches for item in _events_of(t, payment_users)]
    _append(session, _dedupe(items))


def _dedupe(
    items: list[tuple[str, uuid.UUID | None, dict[str, Any]]],
) -> list[tuple[str, uuid.UUID | None, dict[str, Any]]]:
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for kind, user, payload in items:
        key = (kind, str(user), repr(sorted(payload.items())))
        if key not in seen:
            seen.add(key)
            unique.append((kind, user, payload))
    return unique


def _events_of(
    touch: Touch, payment_users: dict[str, uuid.UUID]
) -> Iterable[tuple[str, uuid.UUID | None, dict[str, Any]]]:
    row, op, table = touch.row, touch.op, touch.table
    if op in (capture.RESYNC, "delete"):
        return
    if table == "users":
        user = capture.as_uuid(row["id"])
        if op == "insert":
            yield ("user_registered", user, {})
            return
        if capture.changed(row, *PLAN_FIELDS):
            yield ("plan_applied", user, {"plan_id": _str(row.get("plan_id"))})
        if capture.changed(row, *CUSTOMER_FIELDS):
            yield ("profile_changed", user, {})
    elif table == "subscriptions":
        if not capture.is_orm(row) and op == "update":
            return  # access statistics (record_access): pulled by time, not logged
        user = capture.as_uuid(row["user_id"])
        kind = "token_regenerated" if capture.changed(row, "token") else "subscription_changed"
        yield (kind, user, {})
    elif table == "grants":
        yield ("grant_added", capture.as_uuid(row["user_id"]), {"grant_id": str(row["id"])})
    elif table == "orders":
        kind = "order_created" if op == "insert" else "order_changed"
        yield (kind, capture.as_uuid(row["user_id"]), {"order_id": str(row["id"])})
    elif table == "payments":
        user_id = payment_users.get(str(capture.as_uuid(row["order_id"])))
        yield ("payment_recorded", user_id, {"order_id": str(row["order_id"])})


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def page(
    session: Session, cursor: int, limit: int, access_since: datetime | None
) -> dict[str, Any]:
    """Events after `cursor`, the current state of the users they name, and access stats."""
    events = session.scalars(
        select(SyncEvent).where(SyncEvent.seq > cursor).order_by(SyncEvent.seq).limit(limit)
    ).all()
    user_ids = list(dict.fromkeys(e.user_id for e in events if e.user_id is not None))
    return {
        "events": [
            {
                "seq": e.seq,
                "kind": e.kind,
                "user_id": _str(e.user_id),
                "payload": e.payload,
                "at": e.created_at.isoformat(),
            }
            for e in events
        ],
        "users": users_state(session, user_ids),
        "access": access_stats(session, access_since),
        "next_cursor": events[-1].seq if events else cursor,
        "has_more": len(events) == limit,
    }


def users_state(session: Session, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    """Users as the desktop adopts them: row, subscription, grants, orders, payments."""
    states = users_payload(session, ids)
    if not states:
        return states
    orders = session.scalars(select(Order).where(Order.user_id.in_(ids))).all()
    payments = session.scalars(
        select(Payment).where(Payment.order_id.in_([o.id for o in orders]))
    ).all()
    by_user: dict[str, dict[str, list[dict[str, Any]]]] = {}
    order_user = {o.id: str(o.user_id) for o in orders}
    for order in orders:
        by_user.setdefault(str(order.user_id), {"orders": [], "payments": []})
        by_user[str(order.user_id)]["orders"].append(dump(order, Order))
    for payment in payments:
        by_user[order_user[payment.order_id]]["payments"].append(dump(payment, Payment))
    for state in states:
        extra = by_user.get(state["id"], {"orders": [], "payments": []})
        state.update(extra)
    return states


def access_stats(session: Session, since: datetime | None) -> list[dict[str, Any]]:
    """Subscriptions fetched at or after `since` (absolute values: applying twice is harmless)."""
    query = select(Subscription).where(Subscription.last_access_at.is_not(None))
    if since is not None:
        query = query.where(Subscription.last_access_at >= since)
    subs = session.scalars(query.order_by(Subscription.last_access_at).limit(ACCESS_PAGE))
    columns = ("user_id", "access_count", "last_access_at", "last_access_ip", "last_access_ua")
    return [dump(s, Subscription, columns) for s in subs]
