"""Memory at scale: portal and desktop resident set size over one seeded database.

Seeds SQLite (bench.seed: 100,000 users, 50 nodes × 4 inbounds, a year of usage), starts
the portal as an operator would (portal/serve.py), serves a sample of subscriptions
(which fills its rendered-body cache) and reads the process's RSS from /proc. Then opens
the desktop's Users screen offscreen on the same database in its own process.
Targets: portal < 300 MB, desktop < 500 MB.

usage: python -m bench.bench_memory [--smoke]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.bench_serving import fetch_all, make_clients, portal_env, seed_database
from bench.loadgen.harness import ROOT, server
from tests.fixtures.ports import free_port

PORTAL_TARGET_MB = 300
DESKTOP_TARGET_MB = 500
MIB = 2**20 / 1e6  # MB per MiB


def portal_rss(url: str, tokens: Sequence[str], sample: int, workdir: Path) -> tuple[float, int]:
    """RSS (MiB) after serving `sample` random subscriptions once each (the full run
    serves more than the cache holds: 4,096 bodies, so this is its worst case)."""
    clients = make_clients(
        random.Random(3).sample(list(tokens), min(sample, len(tokens))), random.Random(4)
    )
    port = free_port()
    log = workdir / "portal.log"
    with server(["-m", "portal.serve"], port, log, portal_env(url, port)) as portal:
        answers = fetch_all(clients, [portal.url])
        served = sum(status == 200 for status, _headers, _body in answers)
        return portal.rss_mib(), served


def desktop_rss(url: str, workdir: Path) -> tuple[float, float] | str:
    """(RSS, peak RSS) in MiB of the Users screen process, or why it was not measured."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen.desktop_rss", url, str(workdir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RSS "):
            rss, peak = (int(v) / 1024 for v in line.split()[1:3])
            return rss, peak
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return f"not measured: {tail[:200]}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="2,000 users, 100 fetches")
    args = parser.parse_args(argv)
    users, sample = (2_000, 100) if args.smoke else (100_000, 4_500)
    with tempfile.TemporaryDirectory(prefix="vpanel-bench-") as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'memory.db'}"
        tokens = seed_database(url, users)
        portal, served = portal_rss(url, tokens, sample, workdir)
        desktop = desktop_rss(url, workdir)
    print("## Memory\n")
    print(
        f"SQLite, {users:,} seeded users × 200 proxies; RSS from /proc of each process "
        f"(MiB; targets in MB: portal < {PORTAL_TARGET_MB}, desktop < {DESKTOP_TARGET_MB}).\n"
    )
    print("| process | measured after | RSS MiB | peak MiB | target |")
    print("|---|---|---:|---:|:---:|")
    ok = portal * MIB < PORTAL_TARGET_MB
    print(
        f"| portal (1 × waitress) | serving {served:,} random subscriptions "
        f"(rendered-body cache filled) | {portal:.0f} | — | {'yes' if ok else 'NO'} |"
    )
    if isinstance(desktop, str):
        print(f"| desktop | Users screen, offscreen | {desktop} | — | — |")
    else:
        rss, peak = desktop
        good = peak * MIB < DESKTOP_TARGET_MB
        print(
            f"| desktop | Users screen open offscreen, 5 pages scrolled | {rss:.0f} | "
            f"{peak:.0f} | {'yes' if good else 'NO'} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
