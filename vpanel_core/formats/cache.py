"""Bounded LRU of rendered subscriptions: a repeated fetch of unchanged content renders nothing.

The key holds the content version (bumped when the user's proxies or entitlement change)
and the options with `today` pinned, so `{days_left}` names refresh at midnight UTC.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import replace
from datetime import UTC, datetime

from vpanel_core.formats.options import FormatOptions

CacheKey = tuple[Hashable, str, Hashable, FormatOptions]


class SubscriptionCache:
    """Thread-safe; rendering happens outside the lock (two racing misses both render once)."""

    def __init__(self, maxsize: int = 4096, max_bytes: int = 96 * 2**20) -> None:
        """`max_bytes` bounds the bodies too: 4,096 subscriptions of 200 proxies are
        ~250 MB, which alone would break the portal's 300 MB budget (bench_memory)."""
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._maxsize = maxsize
        self._max_bytes = max_bytes
        self._bytes = 0
        self._data: OrderedDict[CacheKey, tuple[bytes, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def get_or_generate(
        self,
        user_id: Hashable,
        format_name: str,
        content_version: Hashable,
        options: FormatOptions,
        generate: Callable[[FormatOptions], bytes],
    ) -> bytes:
        return self.get_or_generate_digested(
            user_id, format_name, content_version, options, generate
        )[0]

    def get_or_generate_digested(
        self,
        user_id: Hashable,
        format_name: str,
        content_version: Hashable,
        options: FormatOptions,
        generate: Callable[[FormatOptions], bytes],
    ) -> tuple[bytes, bytes]:
        """The body and its SHA-256 digest, hashed once when the body is rendered."""
        if options.today is None:
            options = replace(options, today=datetime.now(UTC).date())
        key: CacheKey = (user_id, format_name, content_version, options)
        with self._lock:
            found = self._data.get(key)
            if found is not None:
                self._data.move_to_end(key)
                return found
        body = generate(options)
        entry = (body, hashlib.sha256(body).digest())
        with self._lock:
            old = self._data.get(key)
            self._bytes += len(body) - (len(old[0]) if old is not None else 0)
            self._data[key] = entry
            self._data.move_to_end(key)
            while len(self._data) > 1 and (
                len(self._data) > self._maxsize or self._bytes > self._max_bytes
            ):
                self._bytes -= len(self._data.popitem(last=False)[1][0])
        return entry

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0
