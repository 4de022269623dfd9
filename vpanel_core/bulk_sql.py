"""Many rows through one SQL statement: passed in as one JSON parameter, read out as one
aggregated row.

Python's sqlite3 releases the GIL around every step of a statement: once per row an
executemany writes, once per row a query returns. Behind busy request threads, getting
it back costs milliseconds each time (a GIL convoy), so the portal's housekeeper took
seconds over a thousand rows (portal/serving.py). Here a thousand rows cost one step in
and one out, on SQLite (`json_each`, `group_concat`) and PostgreSQL
(`json_array_elements`, `string_agg`) alike.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Select,
    Text,
    bindparam,
    cast,
    func,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import Subquery
from sqlalchemy.types import TypeEngine

#: between the values `gathered` reads; none of them may contain it
SEPARATOR = "\x1e"


def table(
    session: Session, columns: Mapping[str, TypeEngine[Any]], rows: Sequence[Sequence[Any]]
) -> Subquery:
    """`rows` (each a value per column, in order) as a subquery with `columns`.

    Values travel as the text the columns store: a UUID as its 32 hex digits, a datetime
    as naive UTC with microseconds. SQLite takes the JSON values as they are (its
    datetime columns are that text, compared as text); PostgreSQL casts them."""
    data = bindparam(None, json.dumps([[_json(v) for v in row] for row in rows]), type_=Text)
    if session.get_bind().dialect.name == "postgresql":
        elements = func.json_array_elements(cast(data, JSON)).table_valued("value")
        values = [
            cast(elements.c.value.op("->>")(literal_column(str(i))), type_).label(name)
            for i, (name, type_) in enumerate(columns.items())
        ]
    else:  # json_extract, not ->> (SQLite 3.38): 3.35 is enough, as for RETURNING
        elements = func.json_each(data).table_valued("value")
        values = [
            type_coerce(func.json_extract(elements.c.value, f"$[{i}]"), type_).label(name)
            for i, (name, type_) in enumerate(columns.items())
        ]
    return select(*values).select_from(elements).subquery()


def _json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    return value


def gathered(session: Session, query: Select[Any]) -> list[str]:
    """The text values of `query`'s one column, read as one aggregated row."""
    rows = query.subquery()
    joined = session.scalar(select(func.aggregate_strings(rows.c[0], SEPARATOR)))
    return joined.split(SEPARATOR) if joined else []
