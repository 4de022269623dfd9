"""Rows ⇄ JSON and bulk upserts: the one place column types are converted for the wire.

On the wire a UUID is its canonical text, a datetime ISO 8601 with its offset, a day an
ISO date and a JSON column its JSON. Small, nested things (plans, nodes, an events page)
travel as dicts (`dump` / `load` / `upsert`). The bulk of a publication travels as
tables, one list of values per column (`Columns`): a snapshot moves hundreds of
thousands of rows, and as columns they are read from the driver (`read_table`) and
written to it (`write_table`) without SQLAlchemy's per-value type processing or a dict
per row; each distinct value of a column is converted once (a page's rows share days,
hours and user ids).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Date, Select, Table, Uuid, select, type_coerce
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from vpanel_core.batching import batches
from vpanel_core.models import Base, UTCDateTime
from vpanel_core.sync.capture import QUIET
from vpanel_core.sync.errors import MessageMalformed
from vpanel_core.timeutil import require_aware

CHUNK = 5000
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

Columns = dict[str, list[Any]]
Convert = Callable[[Any], Any]
# Per column: how a value is converted (None: as it is) and whether values are hashable,
# so each distinct one is converted once (JSON values are lists and dicts).
Step = tuple[Convert | None, bool]


def dump(obj: Any, model: type[Base], columns: Iterable[str] | None = None) -> dict[str, Any]:
    """JSON-safe dict of an ORM object or row mapping (UUIDs and datetimes as strings)."""
    names = list(columns) if columns is not None else _names(model)
    get = obj.__getitem__ if isinstance(obj, Mapping) else obj.__getattribute__
    return {name: _json(get(name)) for name in names}


@cache
def _names(model: type[Base]) -> list[str]:
    return [c.name for c in _table(model).columns]


def _table(model: type[Base]) -> Table:
    table: Table = model.__table__  # type: ignore[assignment]
    return table


def _json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


@cache
def _converters(model: type[Base]) -> tuple[tuple[str, Convert | None], ...]:
    result: list[tuple[str, Convert | None]] = []
    for column in _table(model).columns:
        convert: Convert | None = None
        if isinstance(column.type, Uuid):
            convert = _as_uuid
        elif isinstance(column.type, UTCDateTime):
            convert = _as_datetime
        result.append((column.name, convert))
    return tuple(result)


def load(model: type[Base], data: Mapping[str, Any]) -> dict[str, Any]:
    """Column values for `model` from a dumped dict; unknown keys are dropped."""
    names, typed = _load_steps(model)
    result = {name: data[name] for name in names if name in data}
    for name, convert in typed:
        value = result.get(name)
        if value is not None:
            result[name] = convert(value)
    return result


@cache
def _load_steps(
    model: type[Base],
) -> tuple[tuple[str, ...], tuple[tuple[str, Convert], ...]]:
    steps = _converters(model)
    typed = tuple((name, convert) for name, convert in steps if convert is not None)
    return tuple(name for name, _ in steps), typed


def upsert(
    session: Session,
    model: type[Base],
    rows: Sequence[Mapping[str, Any]],
    *,
    update: Sequence[str] = (),
) -> None:
    """INSERT many rows; on a key conflict update only `update` columns (none: keep).

    Runs as one Core executemany per chunk (no ORM bulk layer). Inside `capture.quiet`
    (applying the other side's data) the change/event hooks have nothing to record, so
    the statement goes straight to the connection; otherwise through the session.
    """
    if not rows:
        return
    table = _table(model)
    insert = pg_insert if _postgres(session) else sqlite_insert
    stmt = insert(table)
    if update:
        keys = [c.name for c in table.primary_key.columns]
        final = stmt.on_conflict_do_update(
            index_elements=keys, set_={name: stmt.excluded[name] for name in update}
        )
    else:
        final = stmt.on_conflict_do_nothing()
    # Rows must share one set of keys for executemany; fill gaps with column defaults.
    names = sorted({name for row in rows for name in row})
    execute: Callable[..., Any] = session.execute
    if session.info.get(QUIET):
        session.flush()  # what `session.execute` would autoflush
        execute = session.connection().execute
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        if all(len(row) == len(names) for row in chunk):
            execute(final, list(chunk))
            continue
        for row in chunk:
            execute(final.values(**{n: row[n] for n in names if n in row}))


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# -- tables: driver values ⇄ wire columns ---------------------------------------------------


def _hex_to_text(value: str) -> str:
    if len(value) != 32:
        return str(uuid.UUID(value))
    return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"


def _text_to_hex(value: Any) -> str:
    """A UUID as SQLAlchemy stores it on SQLite (32 hex digits)."""
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return value.replace("-", "")
    return uuid.UUID(str(value)).hex


def _stored_utc(value: Any) -> datetime:
    """Naive UTC, as `UTCDateTime` stores an aware datetime (naive input is refused)."""
    return require_aware(_as_datetime(value), "datetime").replace(tzinfo=None)


def _sqlite_stamp(value: Any) -> str:
    """SQLAlchemy's SQLite DATETIME text ("YYYY-MM-DD HH:MM:SS.ffffff")."""
    return _stored_utc(value).isoformat(" ", "microseconds")


def _sqlite_stamp_to_text(value: str) -> str:
    return datetime.fromisoformat(value).replace(tzinfo=UTC).isoformat()


def _naive_to_text(value: datetime) -> str:
    return value.replace(tzinfo=UTC).isoformat()


def _as_day(value: Any) -> date:
    return date.fromisoformat(str(value))


def _iso_day(value: Any) -> str:
    return _as_day(value).isoformat()  # SQLite keeps days as ISO text


def _day_to_text(value: Any) -> str:
    return value if isinstance(value, str) else date.isoformat(value)


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()  # compact; columns are queried by JSON functions


@cache
def _steps(model: type[Base], postgres: bool, outgoing: bool) -> tuple[Step, ...]:
    """Per column of `model`: driver → wire (`outgoing`) or wire → driver conversion."""
    steps: list[Step] = []
    for column in _table(model).columns:
        kind = column.type
        step: Step = (None, True)
        if isinstance(kind, Uuid):
            if outgoing:
                step = (str if postgres else _hex_to_text, True)
            else:
                step = (_as_uuid if postgres else _text_to_hex, True)
        elif isinstance(kind, UTCDateTime):
            if outgoing:
                step = (_naive_to_text if postgres else _sqlite_stamp_to_text, True)
            else:
                step = (_stored_utc if postgres else _sqlite_stamp, True)
        elif isinstance(kind, Date):
            step = (_day_to_text if outgoing else (_as_day if postgres else _iso_day), True)
        elif isinstance(kind, JSON):
            # psycopg hands JSON over parsed, SQLite as text. Written, it is text either
            # way (PostgreSQL casts the untyped parameter to the column's type).
            step = (None if postgres else orjson.loads, False) if outgoing else (_json_text, False)
        elif isinstance(kind, Boolean) and outgoing and not postgres:
            step = (bool, True)  # SQLite answers 0 / 1
        steps.append(step)
    return tuple(steps)


def _column(values: Sequence[Any], step: Step) -> list[Any]:
    """`values` converted by `step`; None stays None."""
    convert, hashable = step
    if convert is None:
        return list(values)
    if hashable:
        done = {v: None if v is None else convert(v) for v in set(values)}
        return list(map(done.__getitem__, values))
    return [None if v is None else convert(v) for v in values]


def select_raw(model: type[Base]) -> Select[Any]:
    """Every column of `model`, in table order, as the driver returns it (`read_table`)."""
    return select(*(type_coerce(c, NullType()).label(c.name) for c in _table(model).columns))


def read_table(session: Session, model: type[Base], query: Select[Any]) -> Columns:
    """The rows of `query` (a `select_raw(model)`) as wire columns."""
    result = session.connection().execute(query)
    try:
        rows = result.cursor.fetchall()  # plain tuples: no Row object per row
    finally:
        result.close()
    names = _names(model)
    columns = list(zip(*rows, strict=True)) or [()] * len(names)
    steps = _steps(model, _postgres(session), True)
    return {n: _column(c, s) for n, c, s in zip(names, columns, steps, strict=True)}


def extend(table: Columns, more: Columns) -> Columns:
    """`table` with the rows of `more` (same model) appended."""
    if not table:
        return more
    for name, values in more.items():
        table[name].extend(values)
    return table


def table_of(data: Mapping[str, Any], key: str) -> Columns:
    """The wire table under `key` of a received message (absent: no rows)."""
    table = data.get(key) or {}
    if not isinstance(table, dict) or not all(isinstance(c, list) for c in table.values()):
        raise MessageMalformed(f"{key} is not a table of columns")
    return table


def as_dicts(table: Columns) -> list[dict[str, Any]]:
    """The rows of `table` as dicts (for the few places that want rows)."""
    names = list(table)
    return [dict(zip(names, row, strict=True)) for row in zip(*table.values(), strict=True)]


def count(table: Mapping[str, Sequence[Any]]) -> int:
    """Rows in `table`."""
    return len(next(iter(table.values()), ()))


def split(table: Columns, key: str, members: Collection[Any]) -> tuple[Columns, Columns]:
    """(rows whose `key` is in `members`, the other rows) of `table`."""
    inside = [value in members for value in table.get(key, ())]
    if not any(inside):
        return {}, table
    return filtered(table, inside), filtered(table, [not i for i in inside])


def filtered(table: Columns, keep: Sequence[bool]) -> Columns:
    """The rows of `table` whose flag in `keep` is true."""
    return {n: [v for v, k in zip(c, keep, strict=True) if k] for n, c in table.items()}


def write_table(
    session: Session,
    model: type[Base],
    table: Columns,
    *,
    update: Sequence[str] = (),
) -> None:
    """Upsert a wire table like `upsert`, straight through the driver.

    Bypasses the change/event hooks and column defaults: for the other side's data
    (inside `capture.quiet`), which carries every column.
    """
    if not table:
        return
    assert session.info.get(QUIET), "write_table is for the other side's data"
    names = _names(model)
    missing = [n for n in names if n not in table]
    if missing:
        raise MessageMalformed(f"{_table(model).name} lacks columns {', '.join(missing)}")
    columns = [table[n] for n in names]
    if len({len(c) for c in columns}) != 1:
        raise MessageMalformed(f"{_table(model).name} has columns of different lengths")
    steps = _steps(model, _postgres(session), False)
    rows = list(zip(*(_column(c, s) for c, s in zip(columns, steps, strict=True)), strict=True))
    session.flush()  # what `session.execute` would autoflush
    connection = session.connection()
    sql = _upsert_sql(connection.dialect, _table(model), names, update)
    for some in batches(rows, CHUNK):
        connection.exec_driver_sql(sql, list(some))


def _upsert_sql(dialect: Dialect, table: Table, names: Sequence[str], update: Sequence[str]) -> str:
    """The statement `upsert` builds, for the driver: positional parameters in column order."""
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    action = "DO NOTHING"
    if update:
        keys = ", ".join(quote(c.name) for c in table.primary_key.columns)
        assignments = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in update)
        action = f"({keys}) DO UPDATE SET {assignments}"
    return (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "  # noqa: S608
        f"VALUES ({', '.join([mark] * len(names))}) ON CONFLICT {action}"
    )
