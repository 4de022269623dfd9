"""Session hooks that record changes in the same transaction as the change itself.

One mechanism for both sides, two outputs:

* desktop: `track_changes(factory)` writes a `sync_changes` row (entity, id) for every
  published entity touched, numbered by the change counter;
* portal: `track_events(factory)` appends an event for every customer-side fact
  (registration, profile change, plan purchase, token change, order, payment, grant).

Both see ORM flushes (new / changed / deleted objects) and statements run through
`Session.execute` (the ledger's INSERT … ON CONFLICT, the billing's conditional
UPDATEs): INSERT rows are read from their parameters, UPDATE/DELETE targets are
selected with the statement's own WHERE clause before it runs. A statement whose rows
cannot be told (INSERT … SELECT) marks a full resync instead of losing the change.
SQL run on a raw connection bypasses the hooks; such code must call
`changes.mark` / `events.record_event` itself.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, event, inspect, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, sessionmaker

from vpanel_core.models import Base, Order

log = logging.getLogger("vpanel.sync")

QUIET = "vpanel_sync_quiet"
Row = Mapping[str, Any]
Sink = Callable[[Session, list["Touch"]], None]


@dataclass(frozen=True, slots=True)
class Touch:
    """One row a statement or flush touched: table, operation and the row's columns.

    `op` is insert / update / delete, or RESYNC when the rows could not be told.
    """

    table: str
    op: str
    row: Row


RESYNC = "*"


@contextmanager
def quiet(session: Session) -> Iterator[None]:
    """Apply the other side's data without echoing it back as changes or events."""
    previous = session.info.get(QUIET, False)
    session.info[QUIET] = True
    try:
        yield
    finally:
        session.info[QUIET] = previous


class _Attrs(Mapping[str, Any]):
    """An ORM object seen as a column-name mapping (the models use column names)."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self.obj, key)
        except AttributeError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(c.key for c in inspect(self.obj).mapper.column_attrs)

    def __len__(self) -> int:
        return len(inspect(self.obj).mapper.column_attrs)


def install(factory: sessionmaker[Session], tables: frozenset[str], sink: Sink) -> None:
    """Hook `factory`'s sessions so every touch of `tables` reaches `sink` (idempotent)."""

    def after_flush(session: Session, _ctx: UOWTransaction) -> None:
        if session.info.get(QUIET):
            return
        touches = list(_flushed(session, tables))
        if touches:
            sink(session, touches)

    def on_execute(state: ORMExecuteState) -> None:
        if state.session.info.get(QUIET) or not (
            state.is_insert or state.is_update or state.is_delete
        ):
            return
        table = getattr(state.statement, "table", None)
        if not isinstance(table, Table) or table.name not in tables:
            return
        touches = list(_executed(state, table))
        if touches:
            sink(state.session, touches)

    marker = f"_vpanel_sync_hooks_{id(sink)}"
    if getattr(factory, marker, False):
        return
    setattr(factory, marker, True)
    event.listen(factory, "after_flush", after_flush)
    event.listen(factory, "do_orm_execute", on_execute)


def _flushed(session: Session, tables: frozenset[str]) -> Iterator[Touch]:
    groups = (("insert", session.new), ("update", session.dirty), ("delete", session.deleted))
    for op, objects in groups:
        for obj in objects:
            name = getattr(getattr(obj, "__table__", None), "name", "")
            if not isinstance(obj, Base) or name not in tables:
                continue
            if op == "update" and not session.is_modified(obj, include_collections=False):
                continue
            yield Touch(name, op, _Attrs(obj))


def _executed(state: ORMExecuteState, table: Table) -> Iterator[Touch]:
    op = "insert" if state.is_insert else "update" if state.is_update else "delete"
    if op == "insert":
        rows = _insert_rows(state)
        if rows is None:
            log.warning("sync: cannot tell rows of an INSERT into %s; full resync", table.name)
            yield Touch(table.name, RESYNC, {})
            return
        for row in rows:
            yield Touch(table.name, op, row)
        return
    params = state.parameters
    if isinstance(params, list):
        # ORM bulk UPDATE by primary key: one parameter set per row.
        (pk,) = table.primary_key.columns
        query = select(table).where(pk.in_([p[pk.name] for p in params]))
    else:
        where = getattr(state.statement, "whereclause", None)
        query = select(table) if where is None else select(table).where(where)
    connection = state.session.connection()
    for found in connection.execute(query, params if isinstance(params, Mapping) else {}):
        yield Touch(table.name, op, dict(found._mapping))


def _insert_rows(state: ORMExecuteState) -> list[Row] | None:
    params = state.parameters
    if isinstance(params, list) and params and all(isinstance(p, Mapping) for p in params):
        return [dict(p) for p in params]
    if isinstance(params, Mapping) and params:
        return [dict(params)]
    statement: Any = state.statement
    if getattr(statement, "select", None) is not None or bool(
        getattr(statement, "_multi_values", ())
    ):
        return None
    compiled = statement.compile(dialect=state.session.get_bind().dialect).params
    names = {c.name for c in statement.table.columns}
    row = {k: v for k, v in compiled.items() if k in names}
    return [row] if row else None


def user_of_payment(session: Session, rows: Iterable[Row]) -> dict[str, uuid.UUID]:
    """Payments name their order; events are per user, so look the orders' users up."""
    order_ids = {as_uuid(r["order_id"]) for r in rows if r.get("order_id") is not None}
    if not order_ids:
        return {}
    found = session.connection().execute(
        select(Order.id, Order.user_id).where(Order.id.in_(order_ids))
    )
    return {str(order_id): user_id for order_id, user_id in found}


def as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def is_orm(row: Row) -> bool:
    return isinstance(row, _Attrs)


def changed(row: Row, *names: str) -> bool:
    """Whether an ORM object's attributes among `names` were changed in this flush."""
    if not isinstance(row, _Attrs):
        return True
    attrs = inspect(row.obj).attrs
    return any(attrs[name].history.has_changes() for name in names)
