"""`make test` runs the benchmarks' smoke variant: the harness must work end to end.

Only that it runs and measures something is checked here; the figures themselves are
for bench/README.md (`make bench`), not for CI on a shared machine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.databases import PG_AVAILABLE

ROOT = Path(__file__).resolve().parents[2]


def smoke(name: str, timeout: float) -> str:
    """Run one benchmark's smoke variant through the `make bench` runner; its output."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--only", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
@pytest.mark.skipif(not PG_AVAILABLE, reason="PostgreSQL is not reachable")
def test_serving_smoke_benchmark_prints_a_table_with_requests_per_second() -> None:
    output = smoke("serving", 90)
    rows = re.findall(r"^\| \(a\) portal[^|]*\| [^|]*\| ([\d,]+) \|", output, re.M)
    assert rows, output
    assert float(rows[0].replace(",", "")) > 0


def test_usage_smoke_benchmark_applies_every_record_and_writes_entitlement_files() -> None:
    output = smoke("usage", 120)
    applied = re.findall(r"apply usage, \w+ \| [^|]* \| [^|]* \| ([\d,]+) records", output)
    # 2,000 users × 3 nodes, two rounds: every record counted, none twice.
    assert applied and all(int(a.replace(",", "")) == 12_000 for a in applied), output
    written = re.findall(r"entitlement files, SQLite \| [^|]* \| [^|]* \| ([\d,]+) entries", output)
    # Each user on the nodes of their groups: at least one file each, at most all three.
    assert written and 2_000 <= int(written[0].replace(",", "")) <= 6_000, output


def test_sync_smoke_benchmark_times_both_snapshots_and_the_delta() -> None:
    output = smoke("sync", 120)
    snapshots = re.findall(r"^\| initial snapshot, [^|]* \| ([\d.]+) \|", output, re.M)
    delta = re.findall(r"^\| delta of [^|]* \| ([\d.]+) \|", output, re.M)
    assert len(snapshots) == 2 and len(delta) == 1, output
    assert all(float(seconds) > 0 for seconds in (*snapshots, *delta)), output
