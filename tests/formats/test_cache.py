"""The subscription cache: repeated fetches render nothing; keys and bounds hold."""

from __future__ import annotations

import threading
from datetime import date

from tests.formats.samples import MATRIX
from vpanel_core.formats import FormatOptions, get_format
from vpanel_core.formats.cache import SubscriptionCache


class CountingGenerator:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, options: FormatOptions) -> bytes:
        self.calls += 1
        return get_format("clash_meta").generate(MATRIX, options)


def test_repeated_fetch_does_not_generate_again():
    cache, gen = SubscriptionCache(), CountingGenerator()
    first = cache.get_or_generate(1, "clash_meta", 7, FormatOptions(), gen)
    second = cache.get_or_generate(1, "clash_meta", 7, FormatOptions(), gen)
    assert first == second and gen.calls == 1


def test_new_content_version_format_user_or_options_generate_again():
    cache, gen = SubscriptionCache(), CountingGenerator()
    cache.get_or_generate(1, "clash_meta", 7, FormatOptions(), gen)
    cache.get_or_generate(1, "clash_meta", 8, FormatOptions(), gen)
    cache.get_or_generate(2, "clash_meta", 8, FormatOptions(), gen)
    cache.get_or_generate(2, "sing_box", 8, FormatOptions(), gen)
    cache.get_or_generate(2, "sing_box", 8, FormatOptions(rename="{name}!"), gen)
    assert gen.calls == 5


def test_day_change_regenerates_because_days_left_may_change():
    cache, gen = SubscriptionCache(), CountingGenerator()
    cache.get_or_generate(1, "links", 1, FormatOptions(today=date(2030, 1, 1)), gen)
    cache.get_or_generate(1, "links", 1, FormatOptions(today=date(2030, 1, 2)), gen)
    assert gen.calls == 2


def test_cache_is_bounded_and_evicts_least_recently_used():
    cache, gen = SubscriptionCache(maxsize=2), CountingGenerator()
    for user in (1, 2, 1, 3):  # 1 is refreshed, so 2 is evicted
        cache.get_or_generate(user, "links", 1, FormatOptions(), gen)
    assert len(cache) == 2 and gen.calls == 3
    cache.get_or_generate(1, "links", 1, FormatOptions(), gen)
    assert gen.calls == 3
    cache.get_or_generate(2, "links", 1, FormatOptions(), gen)
    assert gen.calls == 4


def test_concurrent_fetches_are_safe():
    cache, gen = SubscriptionCache(maxsize=8), CountingGenerator()
    results: list[bytes] = []

    def fetch() -> None:
        for user in range(20):
            results.append(cache.get_or_generate(user % 4, "links", 1, FormatOptions(), gen))

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 160 and len(cache) == 4
    assert gen.calls <= 4 * 8  # at most one render per key per racing thread
