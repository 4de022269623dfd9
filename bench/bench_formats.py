"""Time each format generating a 100-proxy subscription; prints a markdown table.

Run: .venv/bin/python bench/bench_formats.py [runs]. Target: median < 5 ms per format.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
from datetime import UTC, datetime

from vpanel_core.formats import FORMATS, FormatOptions, UserInfo
from vpanel_core.proxies import ClientProxy, Protocol, Tls, Transport

TARGET_MS = 5.0


def sample_proxies(count: int = 100) -> list[ClientProxy]:
    """A realistic mix: REALITY, WS/gRPC TLS, VMess, Trojan, SS2022, HY2, TUIC, AnyTLS."""
    key = base64.b64encode(bytes(range(16))).decode()
    tls = Tls(server_name="edge.example.com", alpn=("h2",), fingerprint="chrome")
    h3 = Tls(server_name="edge.example.com", alpn=("h3",))
    reality = Tls(
        server_name="www.example.com",
        fingerprint="chrome",
        reality_public_key="A" * 43,
        reality_short_id="0123abcd",
    )
    kinds = [
        dict(
            protocol=Protocol.VLESS,
            uuid="11111111-2222-4333-8444-555555555555",
            flow="xtls-rprx-vision",
            tls=reality,
        ),
        dict(
            protocol=Protocol.VLESS,
            uuid="11111111-2222-4333-8444-555555555555",
            tls=tls,
            transport=Transport.WS,
            path="/ws",
            host="cdn.example.com",
        ),
        dict(
            protocol=Protocol.VLESS,
            uuid="11111111-2222-4333-8444-555555555555",
            tls=tls,
            transport=Transport.GRPC,
            service_name="grpc",
        ),
        dict(
            protocol=Protocol.VMESS,
            uuid="11111111-2222-4333-8444-555555555555",
            tls=tls,
            transport=Transport.WS,
            path="/vm",
        ),
        dict(protocol=Protocol.TROJAN, password="secret", tls=tls),
        dict(
            protocol=Protocol.SHADOWSOCKS, method="2022-blake3-aes-128-gcm", password=f"{key}:{key}"
        ),
        dict(protocol=Protocol.HYSTERIA2, password="secret", obfs_password="ob", tls=h3),
        dict(
            protocol=Protocol.TUIC,
            uuid="11111111-2222-4333-8444-555555555555",
            password="secret",
            tls=h3,
        ),
        dict(protocol=Protocol.ANYTLS, password="secret", tls=tls),
    ]
    return [
        ClientProxy(
            id=str(i),
            name=f"🇩🇪 Node {i}",
            server=f"n{i}.example.com",
            port=443,
            country="DE",
            **kinds[i % len(kinds)],
        )  # type: ignore[arg-type]
        for i in range(count)
    ]


def main(runs: int = 200) -> int:
    proxies = sample_proxies()
    options = FormatOptions(
        rename="{country} {name} · {data_left} · {days_left}d",
        user=UserInfo(
            upload=10**9,
            download=3 * 10**9,
            total=100 * 10**9,
            expire=datetime(2031, 1, 1, tzinfo=UTC),
            title="vpanel",
        ),
    )
    print("## Format generation (target < 5 ms per format for 100 proxies)\n")
    print(f"{len(proxies)} proxies, {runs} runs each\n")
    print("| format | median ms | p99 ms | bytes | < 5 ms |")
    print("|---|---:|---:|---:|:---:|")
    for name, fmt in FORMATS.items():
        timings = []
        for _ in range(runs):
            start = time.perf_counter()
            body = fmt.generate(proxies, options)
            timings.append((time.perf_counter() - start) * 1000)
        timings.sort()
        median = statistics.median(timings)
        p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
        ok = median < TARGET_MS
        # A missed target is a "NO" in the table, like every other benchmark: not a crash.
        print(f"| {name} | {median:.2f} | {p99:.2f} | {len(body)} | {'yes' if ok else 'NO'} |")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="20 runs per format")
    cli = parser.parse_args()
    sys.exit(main(20 if cli.smoke else cli.runs))
