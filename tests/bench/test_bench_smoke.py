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


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
@pytest.mark.skipif(not PG_AVAILABLE, reason="PostgreSQL is not reachable")
def test_serving_smoke_benchmark_prints_a_table_with_requests_per_second() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--only", "serving"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = re.findall(r"^\| \(a\) portal[^|]*\| [^|]*\| ([\d,]+) \|", done.stdout, re.M)
    assert rows, done.stdout
    assert float(rows[0].replace(",", "")) > 0
