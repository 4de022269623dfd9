"""Desktop side: adopt what happened on the portal (a pulled page of events).

Users the desktop lacks are created with the portal's ids and secrets (a customer who
registered and paid while the desktop was off keeps working). For users it has, only
customer-owned fields, the subscription token, plan fields after a portal plan
purchase, grants (union), orders and payments (portal-owned) and access statistics
change. Nothing is echoed back as desktop changes, except a user whose portal purchase
brought a new reset strategy: that may move the usage floor back on the portal, to days
it was never sent, so the user is published again with its usage (`publication.delta`).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vpanel_core.models import Grant, Order, Payment, Plan, Subscription, User
from vpanel_core.sync import capture, changes
from vpanel_core.sync.events import CUSTOMER_FIELDS, PLAN_FIELDS
from vpanel_core.sync.rows import load, upsert

log = logging.getLogger("vpanel.sync")


def apply(session: Session, page: dict[str, Any]) -> dict[str, int]:
    """Apply one page in the caller's transaction; returns counts."""
    purchases = {
        uuid.UUID(e["user_id"])
        for e in page["events"]
        if e["kind"] == "plan_applied" and e["user_id"]
    }
    plans = set(session.scalars(select(Plan.id)))
    moved = _new_strategies(session, page["users"], purchases)
    adopted = 0
    with capture.quiet(session):
        for state in page["users"]:
            adopted += _user(session, state, purchases, plans)
        _access(session, page.get("access", []))
        session.flush()  # inside `quiet`: these writes are not desktop changes
    changes.mark(session, [("user", str(user_id)) for user_id in moved])
    return {"events": len(page["events"]), "users": len(page["users"]), "adopted": adopted}


def _new_strategies(
    session: Session, states: list[dict[str, Any]], purchases: set[uuid.UUID]
) -> list[uuid.UUID]:
    """Users the desktop has whose portal plan purchase changes their reset strategy."""
    bought = {
        user_id: s["reset_strategy"] for s in states if (user_id := uuid.UUID(s["id"])) in purchases
    }
    if not bought:
        return []
    query = select(User.id, User.reset_strategy).where(User.id.in_(list(bought)))
    return [user_id for user_id, strategy in session.execute(query) if strategy != bought[user_id]]


def _user(
    session: Session, state: dict[str, Any], purchases: set[uuid.UUID], plans: set[uuid.UUID]
) -> int:
    row = load(User, {k: v for k, v in state.items() if k in User.__table__.columns})
    if row.get("plan_id") not in plans:
        row["plan_id"] = None
    user = session.get(User, row["id"])
    created = 0
    if user is None:
        _avoid_clashes(session, row)
        upsert(session, User, [row])
        created = 1
    else:
        fields = [*CUSTOMER_FIELDS, *(PLAN_FIELDS if user.id in purchases else ())]
        values = {f: row[f] for f in fields}
        if "email" in values and _email_taken(session, values["email"], user.id):
            values.pop("email")
        session.execute(update(User).where(User.id == user.id).values(**values))
    _subscription(session, state.get("subscription"))
    upsert(session, Grant, [load(Grant, g) for g in state.get("grants", [])])
    orders = [load(Order, o) for o in state.get("orders", [])]
    for order in orders:
        if order.get("plan_id") not in plans:
            order["plan_id"] = None
    order_columns = [c.name for c in Order.__table__.columns if c.name != "id"]
    upsert(session, Order, orders, update=order_columns)
    payment_columns = [c.name for c in Payment.__table__.columns if c.name != "id"]
    upsert(
        session,
        Payment,
        [load(Payment, p) for p in state.get("payments", [])],
        update=payment_columns,
    )
    return created


def _avoid_clashes(session: Session, row: dict[str, Any]) -> None:
    """An operator-made user may already hold the name or e-mail; keep both, rename ours."""
    taken = session.scalar(select(User.id).where(User.username == row["username"]))
    if taken is not None:
        renamed = f"{row['username'][:50]}-{row['id'].hex[:6]}"
        log.warning(
            "sync: username %s taken on the desktop; adopted as %s", row["username"], renamed
        )
        row["username"] = renamed
    if row.get("email") and _email_taken(session, row["email"], row["id"]):
        log.warning("sync: e-mail of adopted user %s already used on the desktop", row["id"])
        row["email"] = None


def _email_taken(session: Session, email: str | None, owner: uuid.UUID) -> bool:
    if not email:
        return False
    query = select(User.id).where(User.email == email, User.id != owner)
    return session.scalar(query) is not None


def _subscription(session: Session, data: dict[str, Any] | None) -> None:
    if not data:
        return
    row = load(Subscription, data)
    current = session.scalar(select(Subscription).where(Subscription.user_id == row["user_id"]))
    if current is None:
        upsert(session, Subscription, [row])
        return
    current.token, current.short_code = row["token"], row["short_code"]
    _merge_access(current, row)


def _access(session: Session, stats: list[dict[str, Any]]) -> None:
    for data in stats:
        row = load(Subscription, data)
        current = session.scalar(select(Subscription).where(Subscription.user_id == row["user_id"]))
        if current is not None:
            _merge_access(current, row)


def _merge_access(current: Subscription, row: dict[str, Any]) -> None:
    """Absolute portal counters: keep the larger count and the newer last access."""
    current.access_count = max(current.access_count, int(row.get("access_count") or 0))
    newer = row.get("last_access_at")
    if newer is not None and (current.last_access_at is None or newer > current.last_access_at):
        current.last_access_at = newer
        current.last_access_ip = row.get("last_access_ip") or ""
        current.last_access_ua = row.get("last_access_ua") or ""
