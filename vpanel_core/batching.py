"""Split long key lists into IN-clause-sized pieces (SQLite caps bound parameters)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from typing import TypeVar

T = TypeVar("T")

IN_CLAUSE = 500


def batches(items: Sequence[T], size: int = IN_CLAUSE) -> Iterator[Sequence[T]]:
    for at in range(0, len(items), size):
        yield items[at : at + size]


def days_between(first: date, last: date) -> list[date]:
    """Every day from `first` to `last`, both included (keys listed for index seeks)."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
