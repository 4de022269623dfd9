"""Rows ⇄ JSON and bulk upserts: the one place column types are converted for the wire."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, Uuid
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from vpanel_core.models import Base, UTCDateTime
from vpanel_core.sync.capture import QUIET

CHUNK = 5000


def dump(obj: Any, model: type[Base], columns: Iterable[str] | None = None) -> dict[str, Any]:
    """JSON-safe dict of an ORM object or row mapping (UUIDs and datetimes as strings)."""
    names = list(columns) if columns is not None else _names(model)
    get = obj.__getitem__ if isinstance(obj, Mapping) else obj.__getattribute__
    return {name: _json(get(name)) for name in names}


def dumper(model: type[Base]) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """`dump` for plain rows of `select(model.__table__)` (columns in table order).

    Builds the dict in C (`zip`) and converts only the UUID / datetime columns: a
    snapshot dumps hundreds of thousands of rows this way.
    """
    steps = _dump_steps(model)
    names = tuple(name for name, _ in steps)
    typed = tuple((name, convert) for name, convert in steps if convert is not None)

    def convert_row(row: Sequence[Any]) -> dict[str, Any]:
        data = dict(zip(names, row, strict=True))
        for name, convert in typed:
            value = data[name]
            if value is not None:
                data[name] = convert(value)
        return data

    return convert_row


@cache
def _dump_steps(model: type[Base]) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    table: Table = model.__table__  # type: ignore[assignment]
    result: list[tuple[str, Callable[[Any], Any] | None]] = []
    for column in table.columns:
        convert: Callable[[Any], Any] | None = None
        if isinstance(column.type, Uuid):
            convert = str
        elif isinstance(column.type, UTCDateTime):
            convert = datetime.isoformat
        result.append((column.name, convert))
    return tuple(result)


@cache
def _names(model: type[Base]) -> list[str]:
    table: Table = model.__table__  # type: ignore[assignment]
    return [c.name for c in table.columns]


def _json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _as_datetime(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


@cache
def _converters(model: type[Base]) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    table: Table = model.__table__  # type: ignore[assignment]
    result: list[tuple[str, Callable[[Any], Any] | None]] = []
    for column in table.columns:
        convert: Callable[[Any], Any] | None = None
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
) -> tuple[tuple[str, ...], tuple[tuple[str, Callable[[Any], Any]], ...]]:
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
    table: Table = model.__table__  # type: ignore[assignment]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
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
