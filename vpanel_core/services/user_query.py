"""Paged, filtered, sorted user listings for operator screens over 100,000 users.

Filters and sort run in SQL so a screen only ever loads one page of rows. Status is
derived (never stored), so it is attached per page in bulk through the ledger;
filtering *by* status uses a snapshot of every user's status built once, off the GUI
thread, from the same pure ledger functions.
"""

from __future__ import annotations

import typing
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, String, cast, exists, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from vpanel_core.entitlement import (
    Status,
)
from vpanel_core.errors import ValidationError
from vpanel_core.models import Node, Plan, User
from vpanel_core.services import ledger

SORT_KEYS = ("username", "email", "alias", "created_at", "enabled", "plan")
StatusSnapshot = dict[uuid.UUID, Status]


@dataclass(frozen=True, slots=True)
class UserQuery:
    search: str = ""
    plan_id: uuid.UUID | None = None
    group: str = ""
    status: Status | None = None
    sort: str = "created_at"
    descending: bool = False

    @property
    def needs_snapshot(self) -> bool:
        """Disabled is a column; the other statuses come from the ledger."""
        return self.status is not None and self.status is not Status.DISABLED


@dataclass(frozen=True, slots=True)
class UserRow:
    id: uuid.UUID
    username: str
    email: str | None
    alias: str
    enabled: bool
    plan_name: str
    node_groups: tuple[str, ...]
    reset_strategy: str
    created_at: datetime
    status: Status
    expiry: datetime | None
    allowance: int | None
    used: int


def _sort_column(key: str) -> Any:
    columns: dict[str, Any] = {
        "username": User.username,
        "email": User.email,
        "alias": User.alias,
        "created_at": User.created_at,
        "enabled": User.enabled,
        "plan": Plan.name,
    }
    if key not in columns:
        raise ValidationError(f"cannot sort users by {key!r}; use one of {', '.join(SORT_KEYS)}")
    return columns[key]


def _group_filter(session: Session, group: str) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "postgresql":
        return cast(User.node_groups, JSONB).contains([group])
    member = func.json_each(User.node_groups).table_valued("value")
    return exists(select(member.c.value).where(member.c.value == group))


def _filtered(session: Session, query: UserQuery, stmt: Select[Any]) -> Select[Any]:
    stmt = stmt.select_from(User)
    if query.sort == "plan":
        stmt = stmt.outerjoin(Plan, Plan.id == User.plan_id)
    text = query.search.strip()
    if text:
        pattern = f"%{text}%"
        stmt = stmt.where(
            or_(User.username.ilike(pattern), User.email.ilike(pattern), User.alias.ilike(pattern))
        )
    if query.plan_id is not None:
        stmt = stmt.where(User.plan_id == query.plan_id)
    if query.group:
        stmt = stmt.where(_group_filter(session, query.group))
    if query.status is Status.DISABLED:
        stmt = stmt.where(User.enabled.is_(False))
    elif query.status is not None:
        stmt = stmt.where(User.enabled.is_(True))
    return stmt


def _ordered(stmt: Select[Any], query: UserQuery) -> Select[Any]:
    column = _sort_column(query.sort)
    primary = column.desc() if query.descending else column.asc()
    return stmt.order_by(primary, User.id)


def count_users(session: Session, query: UserQuery) -> int:
    """Rows matching the SQL-side filters (status other than disabled is not applied)."""
    return int(session.scalar(_filtered(session, query, select(func.count(User.id)))) or 0)


def user_page(
    session: Session, query: UserQuery, offset: int, limit: int, now: datetime | None = None
) -> list[UserRow]:
    """One page of rows in SQL order, with status from the ledger for just these users."""
    stmt = _ordered(_filtered(session, query, select(User.id)), query)
    ids = list(session.scalars(stmt.offset(offset).limit(limit)))
    return rows_for(session, ids, now)


def matching_ids(session: Session, query: UserQuery, snapshot: StatusSnapshot) -> list[uuid.UUID]:
    """Ordered ids of users matching every filter, status checked against `snapshot`.

    Ids are read as text and looked up in the snapshot's ids in that form, so 100,000
    rows cost one dict lookup each, not one UUID object each.
    """
    if query.status is None:
        return list(session.scalars(_ordered(_filtered(session, query, select(User.id)), query)))
    stored: Callable[[uuid.UUID], str]
    as_text: ColumnElement[str]
    if session.get_bind().dialect.name == "postgresql":
        stored, as_text = str, cast(User.id, String)
    else:  # SQLite keeps UUIDs as 32 hex characters
        stored, as_text = _hex, type_coerce(User.id, String)
    wanted = {stored(i): i for i, status in snapshot.items() if status is query.status}
    stmt = _ordered(_filtered(session, query, select(as_text)), query)
    rows = session.connection().execute(stmt).scalars()  # Core rows: no ORM loading cost
    return [wanted[value] for value in rows if value in wanted]


def _hex(value: uuid.UUID) -> str:
    return value.hex


def rows_for(
    session: Session, ids: Sequence[uuid.UUID], now: datetime | None = None
) -> list[UserRow]:
    """Rows for these user ids, in the given order."""
    if not ids:
        return []
    found = session.execute(
        select(User, Plan.name).outerjoin(Plan, Plan.id == User.plan_id).where(User.id.in_(ids))
    ).all()
    users = {user.id: (user, plan_name) for user, plan_name in found}
    ents = ledger.entitlements(session, [u for u, _ in users.values()], now)
    rows = []
    for user_id in ids:
        if user_id not in users:
            continue
        user, plan_name = users[user_id]
        ent = ents[user_id]
        rows.append(
            UserRow(
                id=user.id,
                username=user.username,
                email=user.email,
                alias=user.alias,
                enabled=user.enabled,
                plan_name=plan_name or "",
                node_groups=tuple(user.node_groups or ()),
                reset_strategy=user.reset_strategy,
                created_at=user.created_at,
                status=ent.status,
                expiry=ent.expiry,
                allowance=ent.allowance,
                used=ent.used,
            )
        )
    return rows


def status_snapshot(session: Session, now: datetime | None = None) -> StatusSnapshot:
    """Every user's derived status: the ledger's bulk derivation over plain column rows."""
    users = session.execute(select(User.id, User.enabled, User.reset_strategy)).all()
    parties = typing.cast(Sequence[ledger.EntitledParty], users)
    return {uid: ent.status for uid, ent in ledger.entitlements(session, parties, now).items()}


def node_groups_in_use(session: Session) -> list[str]:
    """Distinct node groups defined on nodes and plans, for filter menus."""
    groups = set(session.scalars(select(Node.group)))
    for plan_groups in session.scalars(select(Plan.node_groups)):
        groups.update(plan_groups or [])
    return sorted(g for g in groups if g)
