"""Push timings against N simulated nodes (real sshd + vpanel_node + sing-box on loopback).

    .venv/bin/python -m bench.bench_push --nodes 50

Measures a first push, a push of a changed config (one more user) and a push with nothing
changed, and prints a markdown table. Targets: 50 nodes changed < 20 s, unchanged < 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.fixtures.clients import sing_box_binary
from tests.fixtures.ports import free_ports
from tests.fixtures.sshd import SshdNode, keygen
from vpanel_core.db import transaction
from vpanel_core.nodes.bootstrap import BootstrapOptions, bootstrap
from vpanel_core.nodes.fleet import push_nodes
from vpanel_core.nodes.push import Outcome, PushResult
from vpanel_core.nodes.ssh import SshTarget, fetch_host_key, pin_host_key
from vpanel_core.runtime import Database, open_database
from vpanel_core.services.nodes import NewInbound, NewNode, add_inbound, create_node
from vpanel_core.services.users import NewUser, create_user

TARGETS = {"changed": 20.0, "unchanged": 5.0}


def start_nodes(root: Path, count: int, key: Path) -> list[SshdNode]:
    nodes = []
    for index in range(count):
        node = SshdNode(root / f"node{index}", free_ports(1)[0], key)
        node.setup()
        nodes.append(node)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(SshdNode.start, nodes))
    return nodes


def register(db: Database, servers: Sequence[SshdNode], key: Path) -> list[SshTarget]:
    targets = []
    with transaction(db.sessions) as session:
        for index, server in enumerate(servers):
            api, trojan, ss = free_ports(3)
            node = create_node(
                session,
                NewNode(
                    name=f"bench-{index:03d}",
                    host="127.0.0.1",
                    ssh_port=server.port,
                    ssh_user=server.user,
                    ssh_key_ref=str(key),
                    remote_dir=server.remote_dir,
                    api_port=api,
                ),
            )
            pin_host_key(node, fetch_host_key("127.0.0.1", server.port))
            listen = "127.0.0.1"
            add_inbound(session, node, NewInbound("trojan", "trojan", trojan, listen=listen))
            add_inbound(session, node, NewInbound("ss", "shadowsocks", ss, listen=listen))
            targets.append(SshTarget.from_node(node))
    return targets


def add_users(db: Database, count: int, prefix: str) -> None:
    with transaction(db.sessions) as session:
        for index in range(count):
            spec = NewUser(username=f"{prefix}{index:05d}", days=30, traffic_bytes=1 << 30)
            create_user(session, spec)


def timed(label: str, action: Callable[[], list[PushResult]]) -> dict[str, object]:
    started = time.monotonic()
    results = action()
    wall = time.monotonic() - started
    per_node = sorted(r.seconds for r in results)
    outcomes = {o.value: sum(r.outcome is o for r in results) for o in Outcome}
    failed = [r for r in results if r.outcome is Outcome.FAILED]
    if failed:
        print(f"<!-- {label}: first failure {failed[0].node_name}: {failed[0].error} -->")
    return {
        "step": label,
        "wall": wall,
        "median": statistics.median(per_node),
        "p95": per_node[max(0, int(len(per_node) * 0.95) - 1)],
        "outcomes": ", ".join(f"{k} {v}" for k, v in outcomes.items() if v),
        "target": TARGETS.get(label.split()[0]),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--smoke", action="store_true", help="3 nodes, 20 users: seconds")
    args = parser.parse_args(argv)
    if args.smoke:
        args.nodes, args.users = 3, 20

    with tempfile.TemporaryDirectory(prefix="vpanel-bench-") as tmp:
        root = Path(tmp)
        key = root / "operator_key"
        keygen(key)
        started = time.monotonic()
        servers = start_nodes(root, args.nodes, key)
        try:
            db = open_database(f"sqlite:///{root / 'master.db'}")
            targets = register(db, servers, key)
            options = BootstrapOptions(remote_sing_box=str(sing_box_binary()))
            with ThreadPoolExecutor(args.workers) as pool:
                list(
                    pool.map(
                        lambda pair: bootstrap(pair[0], pair[1].remote_dir, options),
                        zip(targets, servers, strict=True),
                    )
                )
            setup = time.monotonic() - started
            add_users(db, args.users, "user")

            def push() -> list[PushResult]:
                return push_nodes(db.sessions, max_workers=args.workers)

            rows = [timed("first push", push)]
            add_users(db, 1, "late")
            rows.append(timed("changed (one more user)", push))
            rows.append(timed("unchanged", push))
        finally:
            for server in servers:
                server.stop()

    print(f"\n### bench_push: {args.nodes} nodes, {args.users} users, {args.workers} workers\n")
    print(f"Setup (start sshd, pin, bootstrap): {setup:.1f} s\n")
    print("| step | wall (s) | per node median (s) | per node p95 (s) | outcomes | target (s) |")
    print("|---|---:|---:|---:|---|---:|")
    for row in rows:
        target = f"< {row['target']:.0f}" if row["target"] else ""
        print(
            f"| {row['step']} | {row['wall']:.2f} | {row['median']:.2f} | {row['p95']:.2f} "
            f"| {row['outcomes']} | {target} |"
        )


if __name__ == "__main__":
    main()
