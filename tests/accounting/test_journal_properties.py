"""Journal properties: whatever mix of appends, torn writes, recoveries, acks, compactions and
replayed collections happens, the applied totals equal the sum of complete appends, each once."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from vpanel_core.usage.schema import parse_page
from vpanel_node.journal import Journal, read_page, write_ack

USERS = ["u1", "u2", "u3"]

row = st.tuples(st.sampled_from(USERS), st.integers(0, 10**9), st.integers(0, 10**9))
op = st.one_of(
    st.tuples(st.just("append"), st.lists(row, min_size=1, max_size=4)),
    st.tuples(st.just("torn"), st.lists(row, min_size=1, max_size=4), st.floats(0.01, 0.99)),
    st.tuples(st.just("collect"), st.integers(1, 5)),
    st.tuples(st.just("replay"), st.integers(1, 5)),
    st.tuples(st.just("compact")),
    st.tuples(st.just("recover")),
)


class Desktop:
    """A stand-in for the database: a set of (seq) applied, like the (node, seq) key."""

    def __init__(self) -> None:
        self.applied: dict[int, tuple[str, int]] = {}
        self.cursor = 0
        self.skipped = 0

    def collect(self, directory: Path, page: int, after: int | None = None) -> None:
        start = self.cursor if after is None else after
        while True:
            result = parse_page(read_page(directory, start, page))
            self.skipped += result.torn + result.corrupt
            for record in result.records:
                self.applied.setdefault(record.seq, (record.user, record.up + record.down))
            if not result.records:
                return
            start = result.records[-1].seq
            self.cursor = max(self.cursor, start)
            write_ack(directory, self.cursor)
            if not result.more:
                return

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for user, amount in self.applied.values():
            out[user] = out.get(user, 0) + amount
        return out


def _torn_write(journal: Journal, rows: list[tuple[str, int, int]], fraction: float) -> bytes:
    """What a crash mid-append leaves: a prefix of the bytes an append would write."""
    lines = "".join(
        f'{{"seq":{journal.next_seq + i},"user":"{u}","up":{up},"down":{down},"t0":0,"t1":1}}\n'
        for i, (u, up, down) in enumerate(rows)
    )
    payload = (lines + f'{{"commit":{journal.next_seq + len(rows) - 1},"next":1}}\n').encode()
    written = payload[: max(1, int(len(payload) * fraction))]
    with open(journal.path, "ab") as handle:
        handle.write(written)
    return written


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(op, max_size=25))
def test_applied_totals_equal_complete_appends_each_once(tmp_path_factory, ops) -> None:
    """Property: exactly-once — sum(applied) == sum(complete appends), per user."""
    directory = tmp_path_factory.mktemp("journal")
    journal = Journal(directory).open()
    desktop = Desktop()
    expected: dict[str, int] = {}
    for step in ops:
        kind = step[0]
        if kind == "append":
            journal.append([(u, up, down, 0, 1) for u, up, down in step[1]], {}, [])
            for u, up, down in step[1]:
                expected[u] = expected.get(u, 0) + up + down
        elif kind == "torn":
            _torn_write(journal, step[1], step[2])
            journal = Journal(directory).open()  # the crash: the helper starts over
        elif kind == "collect":
            desktop.collect(directory, step[1])
        elif kind == "replay":
            desktop.collect(directory, step[1], after=0)
        elif kind == "compact":
            journal.compact(desktop.cursor)
        else:
            journal = Journal(directory).open()
    desktop.collect(directory, 1000)
    nonzero = {u: v for u, v in desktop.totals().items() if v}
    assert nonzero == {u: v for u, v in expected.items() if v}
    assert sorted(desktop.applied) == list(range(1, journal.next_seq))


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(row, min_size=1, max_size=5), fraction=st.floats(0.01, 0.99))
def test_torn_tail_is_reported_not_counted(tmp_path_factory, rows, fraction) -> None:
    """Property: a torn last append is skipped and reported; recovery cuts it off."""
    directory = tmp_path_factory.mktemp("journal")
    journal = Journal(directory).open()
    journal.append([("u1", 5, 7, 0, 1)], {}, [])
    written = _torn_write(journal, rows, fraction)
    page = parse_page(read_page(directory, 0, 100))
    assert [r.seq for r in page.records] == [1]
    assert page.torn == (0 if written.endswith(b"\n") else 1)
    recovered = Journal(directory).open()
    assert recovered.next_seq == 2
    assert parse_page(read_page(directory, 0, 100)).torn == 0
