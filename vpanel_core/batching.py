"""Helpers for bulk work: key lists split into IN-clause-sized pieces (SQLite caps bound
parameters), day lists, and cyclic GC paused while 100,000 users' objects are built."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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


@contextmanager
def paused_gc() -> Iterator[None]:
    """Bulk work builds ~a million short-lived containers: cyclic GC passes over them all
    cost about as much as the work itself and free nothing (it holds no cycles)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
