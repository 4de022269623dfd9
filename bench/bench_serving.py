"""Subscription serving under load: the portal on waitress against a bare-waitress ceiling.

Seeds SQLite and PostgreSQL at scale (bench.seed), starts real servers as separate
processes (portal/serve.py, configured from the environment as an operator would) and
drives them with wrk and bench/loadgen/subscription.lua: 64 connections, clients drawn
at random, each with a real client's User-Agent (some with ?format=), each with its own
address in X-Forwarded-For (the portal trusts one proxy hop, as behind nginx), so the
per-address rate limit works as in production instead of throttling 127.0.0.1.

The ceiling is a bare WSGI app on the same waitress settings serving the same bytes from
memory, measured in the same run; every portal figure is reported as a ratio to it.
Runs are interleaved (each run measures every scenario once) so drift hits all alike.

usage: python -m bench.bench_serving [--smoke]
"""

from __future__ import annotations

import argparse
import os
import pickle
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from sqlalchemy import select

from bench.loadgen.harness import THREADS, Server, WrkResult, scratch_postgres, server
from bench.loadgen.harness import wrk as run_wrk
from bench.seed import seed
from tests.fixtures.ports import free_port
from vpanel_core.entitlement import Status
from vpanel_core.formats import FORMATS
from vpanel_core.models import Subscription, User
from vpanel_core.runtime import open_database
from vpanel_core.services import ledger

#: what real clients send (formats.md §7.3); the portal picks the format from these
USER_AGENTS = (
    "clash-verge/v2.0.0",
    "clash.meta/1.19.0",
    "mihomo/1.19.0",
    "FlClash/v0.8.80 clash-verge Platform/android",
    "ClashforWindows/0.20.39",
    "SFA/1.11.0 (Android 14; sing-box 1.11.0)",
    "SFI/1.11.0 (iOS 17.5; sing-box 1.11.0)",
    "sing-box 1.11.0",
    "Shadowrocket/2070 CFNetwork/1496.0.7 Darwin/23.5.0",
    "v2rayN/7.0.0",
    "v2rayNG/1.9.16",
    "Hiddify/2.5.7 (android) like ClashMeta v2ray sing-box",
    "Karing/1.0.35",
    "Stash/2.4.7 Clash/1.9.0",
    "Surge iOS/3100",
    "Quantumult%20X/1.4.1",
    "Loon/3.2.1",
    "NekoBox/Android/1.3.4",
)
EXPLICIT_FORMAT_SHARE = 0.15
#: set by waitress itself (hop-by-hop or per response), not by the app
SERVER_HEADERS = ("server", "date", "connection", "keep-alive", "transfer-encoding")
SECRET_KEY = "bench-" + "k" * 40
TARGET_RATIO = 0.5
#: addresses each warmed link is fetched from (`from_addresses`)
ADDRESSES_PER_LINK = 16
TARGET_P99_MS = 100.0


@dataclass(frozen=True, slots=True)
class Sizes:
    users: int
    hot: int  # clients in the cached (warmed) set
    runs: int
    seconds: float


FULL = Sizes(users=100_000, hot=1_000, runs=3, seconds=10)
SMOKE = Sizes(users=2_000, hot=150, runs=1, seconds=3)


@dataclass(frozen=True, slots=True)
class Client:
    """One simulated proxy client: which link it fetches, as whom, from where."""

    path: str
    user_agent: str
    ip: str
    etag: str = ""

    def line(self) -> str:
        return f"{self.path}\t{self.user_agent}\t{self.ip}\t{self.etag}\n"

    def fetch(self, base: str) -> tuple[int, Message, bytes]:
        headers = {"User-Agent": self.user_agent, "X-Forwarded-For": self.ip}
        req = urllib.request.Request(base + self.path, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()


def active_tokens(url: str) -> list[str]:
    """Tokens of users who get a subscription (not expired, disabled or over quota)."""
    db = open_database(url)
    try:
        with db.sessions() as session:
            users = session.scalars(select(User)).all()
            ents = ledger.entitlements(session, users)
            active = {u.id for u in users if ents[u.id].status is Status.ACTIVE}
            rows = session.execute(select(Subscription.user_id, Subscription.token))
            return sorted(token for user_id, token in rows if user_id in active)
    finally:
        db.engine.dispose()


def make_clients(tokens: Sequence[str], rng: random.Random) -> list[Client]:
    formats = sorted(FORMATS)
    clients = []
    for i, token in enumerate(tokens):
        query = f"?format={rng.choice(formats)}" if rng.random() < EXPLICIT_FORMAT_SHARE else ""
        ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        clients.append(Client(f"/api/subscription/{token}{query}", rng.choice(USER_AGENTS), ip))
    return clients


def from_addresses(clients: Sequence[Client], count: int) -> list[Client]:
    """Each client's fetches spread over `count` addresses of its own (172.16.0.0/12).

    A real client fetches its link every hour or so; under wrk a warmed link is fetched
    several times a second, so with one address per link every address would pass the
    per-address limit (120 a minute) within the first minute and the run would measure
    429 answers. Spread out, each address stays well under it, as in production."""
    spread = []
    for i, client in enumerate(clients):
        for j in range(count):
            n = i * count + j
            ip = f"172.{16 + (n >> 16 & 15)}.{n >> 8 & 255}.{n & 255}"
            spread.append(Client(client.path, client.user_agent, ip, client.etag))
    return spread


def write_clients(path: Path, clients: Sequence[Client]) -> Path:
    path.write_text("".join(c.line() for c in clients))
    return path


def fetch_all(clients: Sequence[Client], bases: Sequence[str]) -> list[tuple[int, Message, bytes]]:
    """Fetch every client once from every server (8 at a time): warms each process's cache."""
    jobs = [(c, b) for c in clients for b in bases]
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda job: job[0].fetch(job[1]), jobs))


def with_etags(clients: Sequence[Client], base: str) -> list[Client]:
    answers = fetch_all(clients, [base])
    return [
        Client(c.path, c.user_agent, c.ip, headers["ETag"] or "")
        for c, (_status, headers, _body) in zip(clients, answers, strict=True)
    ]


def ceiling_bodies(
    clients: Sequence[Client], base: str
) -> dict[tuple[str, str], tuple[str, list[tuple[str, str]], bytes]]:
    """One real portal answer per (User-Agent, query): the bytes the ceiling app serves."""
    samples: dict[tuple[str, str], Client] = {}
    for c in clients:
        query = c.path.partition("?")[2]
        samples.setdefault((c.user_agent, query), c)
    bodies = {}
    for key, c in samples.items():
        status, headers, body = c.fetch(base)
        kept = [(k, v) for k, v in headers.items() if k.lower() not in SERVER_HEADERS]
        bodies[key] = (f"{status} OK", kept, body)
    return bodies


@dataclass(slots=True)
class Scenario:
    label: str
    servers: str
    measure: Callable[[], WrkResult]
    results: list[WrkResult]
    ceiling: bool = False


def portal_env(url: str, port: int) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "VPANEL_SECRET_KEY": SECRET_KEY,
        "VPANEL_PORTAL_PORT": str(port),
        "VPANEL_PORTAL_THREADS": str(THREADS),
        "VPANEL_TRUSTED_PROXY_HOPS": "1",
        "VPANEL_PORTAL_URL": "https://portal.example.com",
    }


def start_portal(stack: ExitStack, url: str, workdir: Path, name: str) -> Server:
    port = free_port()
    args = ["-m", "portal.serve"]
    return stack.enter_context(server(args, port, workdir / f"{name}.log", portal_env(url, port)))


def seed_database(url: str, users: int) -> list[str]:
    db = open_database(url)
    try:
        seed(db, users=users)
    finally:
        db.engine.dispose()
    return active_tokens(url)


def measure(sizes: Sizes, workdir: Path) -> list[Scenario]:
    rng = random.Random(10)
    sqlite_url = f"sqlite:///{workdir / 'portal.db'}"
    with ExitStack() as stack:
        pg_url = stack.enter_context(scratch_postgres())
        started = time.perf_counter()
        lite_tokens = seed_database(sqlite_url, sizes.users)
        pg_tokens = seed_database(pg_url, sizes.users)
        log(f"seeded 2 × {sizes.users} users in {time.perf_counter() - started:.0f} s")
        lite_hot = make_clients(rng.sample(lite_tokens, min(sizes.hot, len(lite_tokens))), rng)
        pg_hot = make_clients(rng.sample(pg_tokens, min(sizes.hot, len(pg_tokens))), rng)
        lite_all = make_clients(lite_tokens, rng)

        lite = start_portal(stack, sqlite_url, workdir, "sqlite")
        pg_a = start_portal(stack, pg_url, workdir, "pg-a")
        pg_b = start_portal(stack, pg_url, workdir, "pg-b")
        started = time.perf_counter()
        fetch_all(lite_hot, [lite.url])
        # Twice: a link enters a process's index on its second answer (portal/serving.py);
        # the SQLite clients get theirs from `with_etags` below.
        for _ in range(2):
            fetch_all(pg_hot, [pg_a.url, pg_b.url])
        lite_etag = with_etags(lite_hot, lite.url)
        bodies = workdir / "bodies.pickle"
        bodies.write_bytes(pickle.dumps(ceiling_bodies(lite_hot, lite.url)))
        log(f"warmed up in {time.perf_counter() - started:.0f} s")
        ceiling_port = free_port()
        ceiling = stack.enter_context(
            server(
                ["-m", "bench.loadgen.ceiling", str(bodies), str(ceiling_port)],
                ceiling_port,
                workdir / "ceiling.log",
            )
        )
        files = {
            name: write_clients(workdir / f"{name}.tsv", clients)
            for name, clients in (
                ("lite_hot", from_addresses(lite_hot, ADDRESSES_PER_LINK)),
                ("lite_all", lite_all),
                ("pg_hot", from_addresses(pg_hot, ADDRESSES_PER_LINK)),
                ("lite_etag", from_addresses(lite_etag, ADDRESSES_PER_LINK)),
            )
        }
        secs = sizes.seconds
        scenarios = [
            Scenario(
                "(d) ceiling: bare waitress app, same bytes from memory",
                "1 × waitress",
                lambda: run_wrk(ceiling.url, files["lite_hot"], secs),
                [],
                ceiling=True,
            ),
            Scenario(
                f"(a) portal, SQLite, cached ({len(lite_hot)} warmed clients)",
                "1 × waitress",
                lambda: run_wrk(lite.url, files["lite_hot"], secs),
                [],
            ),
            Scenario(
                f"(b) portal, PostgreSQL, cached ({len(pg_hot)} warmed clients)",
                "2 × waitress",
                lambda: run_wrk(
                    pg_a.url, files["pg_hot"], secs, threads=2, ports=(pg_a.port, pg_b.port)
                ),
                [],
            ),
            Scenario(
                "(c) portal, SQLite, 304 (If-None-Match, same clients)",
                "1 × waitress",
                lambda: run_wrk(lite.url, files["lite_etag"], secs),
                [],
            ),
            Scenario(
                f"(e) portal, SQLite, all {len(lite_all)} active users (mostly uncached)",
                "1 × waitress",
                lambda: run_wrk(lite.url, files["lite_all"], secs),
                [],
            ),
        ]
        for run in range(sizes.runs):
            for scenario in scenarios:
                result = scenario.measure()
                scenario.results.append(result)
                log(
                    f"run {run + 1}/{sizes.runs} {scenario.label[:3]} {result.rps:.0f} req/s "
                    f"p50 {result.p50_ms:.1f} ms p99 {result.p99_ms:.1f} ms {result.statuses}"
                )
        return scenarios


def report(scenarios: Sequence[Scenario], sizes: Sizes) -> bool:
    """Print the markdown section; True when every target is met."""
    ceiling = statistics.median(r.rps for s in scenarios if s.ceiling for r in s.results)
    print("## Subscription serving\n")
    print(
        f"wrk, 64 connections, {sizes.runs} × {sizes.seconds:g} s per scenario (interleaved), "
        f"{sizes.users:,} seeded users × 200 proxies (50 nodes × 4 inbounds), waitress "
        f"{THREADS} threads per process. PostgreSQL: one wrk with 2 threads, 32 connections "
        "each, each thread on its own server (Lua round-robin). Figures are medians over runs; "
        "p99 max is the worst run. Target: cached ≥ 0.5 × ceiling, p99 < 100 ms; 304 cheaper.\n"
    )
    print(
        "| scenario | servers | req/s | × ceiling | p50 ms | p99 ms | p99 max | KiB/resp | "
        "statuses | target |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---|:---:|")
    ok = True
    for s in scenarios:
        rps = statistics.median(r.rps for r in s.results)
        ratio = rps / ceiling
        p99 = statistics.median(r.p99_ms for r in s.results)
        statuses: dict[str, int] = {}
        for r in s.results:
            for code, n in r.statuses.items():
                statuses[code] = statuses.get(code, 0) + n
        kib = sum(r.bytes for r in s.results) / max(1, sum(r.requests for r in s.results)) / 1024
        met = "—"
        if not s.ceiling and not s.label.startswith("(e)"):
            good = ratio >= TARGET_RATIO and p99 < TARGET_P99_MS
            met = "yes" if good else "NO"
            ok &= good
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items()))
        print(
            f"| {s.label} | {s.servers} | {rps:,.0f} | {ratio:.2f} | "
            f"{statistics.median(r.p50_ms for r in s.results):.1f} | {p99:.1f} | "
            f"{max(r.p99_ms for r in s.results):.1f} | {kib:.1f} | {codes} | {met} |"
        )
    return ok


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="2,000 users, one 3 s run")
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    keep = Path(os.environ["VPANEL_BENCH_KEEP"]) if "VPANEL_BENCH_KEEP" in os.environ else None
    with tempfile.TemporaryDirectory(prefix="vpanel-bench-", dir=keep) as tmp:
        scenarios = measure(sizes, Path(tmp))
    report(scenarios, sizes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
