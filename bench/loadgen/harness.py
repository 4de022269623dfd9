"""Start and stop servers, run wrk, make scratch databases: everything bench_serving and
bench_memory share. Every context manager stops what it started, even on errors."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
LUA = HERE / "subscription.lua"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL = "postgresql://postgres@127.0.0.1:5432/{name}"
#: waitress worker threads, for the portal (VPANEL_PORTAL_THREADS) and the ceiling alike
THREADS = 8
#: portal/serve.py's default VPANEL_PORTAL_CONNECTIONS (waitress connection_limit, backlog)
CONNECTIONS = 1000


@dataclass(slots=True)
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mib(self) -> float:
        """Resident set size of the server process, from /proc (Linux)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS line")


@contextmanager
def server(
    args: Sequence[str], port: int, log: Path, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Run `python <args>` until the block ends; ready once it answers HTTP on `port`."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            started = Server(process, port, log)
            wait_ready(started)
            yield started
        finally:
            stop(process)


def wait_ready(srv: Server, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if srv.process.poll() is not None:
            tail = srv.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"server exited with {srv.process.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(f"{srv.url}/healthz", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers HTTP; /healthz need not exist (the ceiling app)
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"server on port {srv.port} not ready after {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    seconds: float
    bytes: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    statuses: dict[str, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def wrk(
    url: str,
    clients: Path,
    seconds: float,
    *,
    connections: int = 64,
    threads: int = 1,
    ports: Sequence[int] = (),
) -> WrkResult:
    """One wrk run over the client list; `ports` spreads threads round-robin over servers."""
    args = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        url,
        "--",
        str(clients),
    ]
    env = {**os.environ, "WRK_PORTS": " ".join(map(str, ports))}
    done = subprocess.run(
        args, capture_output=True, text=True, check=False, timeout=seconds + 60, env=env
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            data = json.loads(line.removeprefix("RESULT "))
            return WrkResult(
                requests=data["requests"],
                seconds=data["seconds"],
                bytes=data["bytes"],
                p50_ms=data["p50_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                max_ms=data["max_us"] / 1000,
                socket_errors=data["socket_errors"],
                statuses=data["statuses"],
            )
    raise RuntimeError(f"no RESULT line from wrk:\n{done.stdout}\n{done.stderr}")


@contextmanager
def scratch_postgres() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one run; dropped afterwards."""
    name = f"vpanel_bench_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.format(name=name)
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def serve_waitress(app: object, port: int) -> None:
    """Serve `app` with the portal's waitress settings (portal/serve.py); waitress's
    per-request queue warning is silenced, as the portal rate-limits it to one a minute."""
    import logging

    from portal.http_server import serve

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    serve(
        app,
        host="127.0.0.1",
        port=port,
        threads=THREADS,
        connection_limit=CONNECTIONS,
        backlog=CONNECTIONS,
        ident="vpanel",
        clear_untrusted_proxy_headers=False,  # as the portal with trusted proxy hops
    )
