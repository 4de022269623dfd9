"""Seed a database at benchmark scale: users, subscriptions, grants, nodes, usage.

Bulk inserts through SQLAlchemy Core (executemany), so 100,000 users take seconds,
not minutes; usage goes through ingestion, as nodes' journals would. Deterministic
for a given seed so runs are comparable.
"""

from __future__ import annotations

import argparse
import random
import secrets
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from vpanel_core import settings as operator_settings
from vpanel_core.db import transaction
from vpanel_core.models import Grant, Inbound, Node, Subscription, User
from vpanel_core.runtime import Database, open_database
from vpanel_core.secrets_util import SHORT_CODE_ALPHABET
from vpanel_core.usage.ingest import apply_round
from vpanel_core.usage.schema import UsageLine

PROTOCOL_INBOUNDS = [
    ("trojan", "tcp", 443, "tls"),
    ("shadowsocks", "tcp", 8388, "none"),
    ("hysteria2", "tcp", 8443, "tls"),
    ("vless", "ws", 2053, "tls"),
]


@dataclass(frozen=True, slots=True)
class SeedResult:
    users: int
    nodes: int
    usage_records: int
    seconds: float
    tokens: list[str]
    journals: dict[uuid.UUID, list[UsageLine]]  # per node: the usage records seeded


def chunks(rows: list[dict[str, Any]], size: int = 5000) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def progress(label: str, done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r{label:<14} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def bulk(db: Database, model: Any, rows: list[dict[str, Any]], label: str) -> None:
    done = 0
    with db.engine.begin() as conn:
        for part in chunks(rows):
            conn.execute(insert(model), part)
            done += len(part)
            progress(label, done, len(rows))


def seed(
    db: Database,
    *,
    users: int = 100_000,
    nodes: int = 50,
    usage_days: int = 365,
    usage_every_days: int = 14,
    rng_seed: int = 7,
    ingest: bool = True,
) -> SeedResult:
    """`ingest=False` leaves the usage records to `ingest_usage` (timed on their own)."""
    rng = random.Random(rng_seed)
    started = time.perf_counter()
    now = datetime.now(UTC)
    node_rows: list[dict[str, Any]] = []
    inbound_rows: list[dict[str, Any]] = []
    for n in range(nodes):
        node_id = uuid.UUID(int=rng.getrandbits(128))
        node_rows.append(
            {
                "id": node_id,
                "name": f"node-{n:03d}",
                "host": f"198.51.100.{n % 250 + 1}",
                "ssh_port": 22,
                "ssh_user": "root",
                "ssh_key_ref": "",
                "host_key": "",
                "group": "default",
                "country": rng.choice(["HK", "JP", "SG", "US", "DE"]),
                "labels": [],
                "enabled": True,
                "api_secret": secrets.token_urlsafe(16),
                "remote_dir": "/opt/vpanel-node",
                "config_version": "",
                "last_push_result": "",
                "sing_box_version": "1.14.4",
                "created_at": now,
            }
        )
        for protocol, transport, port, tls in PROTOCOL_INBOUNDS:
            settings: dict[str, Any] = {"self_signed": True}
            if protocol == "shadowsocks":
                settings = {
                    "method": "2022-blake3-aes-128-gcm",
                    "server_psk": "AAAAAAAAAAAAAAAAAAAAAA==",
                }
            inbound_rows.append(
                {
                    "id": uuid.UUID(int=rng.getrandbits(128)),
                    "node_id": node_id,
                    "tag": f"{protocol}-{port}",
                    "protocol": protocol,
                    "listen_port": port,
                    "transport": transport,
                    "path": "/ws" if transport == "ws" else "",
                    "service_name": "",
                    "tls_mode": tls,
                    "sni": "example.com",
                    "client_host": "",
                    "client_port": None,
                    "settings": settings,
                    "enabled": True,
                }
            )
    user_rows, sub_rows, grant_rows, tokens = [], [], [], []
    node_ids: list[uuid.UUID] = [row["id"] for row in node_rows]
    pages: dict[uuid.UUID, list[UsageLine]] = {node_id: [] for node_id in node_ids}
    seq = dict.fromkeys(node_ids, 0)
    for i in range(users):
        user_id = uuid.UUID(int=rng.getrandbits(128))
        created = now - timedelta(days=rng.randint(1, usage_days))
        user_rows.append(
            {
                "id": user_id,
                "username": f"user{i:06d}",
                "email": f"user{i:06d}@example.com",
                "email_verified": True,
                "password_hash": None,
                "alias": "",
                "notes": "",
                "role": "customer",
                "enabled": rng.random() > 0.02,
                "credential": uuid.UUID(int=rng.getrandbits(128)),
                "proxy_secret": secrets.token_urlsafe(24),
                "reset_strategy": "monthly",
                "node_groups": [],
                "plan_id": None,
                "locale": "en",
                "created_at": created,
                "updated_at": created,
            }
        )
        token = secrets.token_urlsafe(32)
        tokens.append(token)
        sub_rows.append(
            {
                "id": uuid.UUID(int=rng.getrandbits(128)),
                "user_id": user_id,
                "token": token,
                "short_code": "".join(rng.choice(SHORT_CODE_ALPHABET) for _ in range(8)),
                "created_at": created,
                "access_count": 0,
                "last_access_at": None,
                "last_access_ip": "",
                "last_access_ua": "",
            }
        )
        grant_rows.append(
            {
                "id": f"seed:{user_id}",
                "user_id": user_id,
                "kind": "extend",
                "seconds": rng.choice([30, 90, 365, 400]) * 86400,
                "bytes": 200 * 2**30,
                "unlimited": False,
                "reverses": None,
                "effective_at": created,
                "source": "seed",
                "note": "",
                "created_at": created,
            }
        )
        for day in range(0, (now - created).days, usage_every_days):
            node_id = rng.choice(node_ids)
            seq[node_id] += 1
            at = created + timedelta(days=day)
            start_ms = int(at.timestamp() * 1000)
            pages[node_id].append(
                UsageLine(
                    seq[node_id],
                    str(user_id),
                    rng.randint(0, 2**28),
                    rng.randint(0, 2**30),
                    start_ms,
                    start_ms + 3_600_000,
                )
            )
    bulk(db, Node, node_rows, "nodes")
    bulk(db, Inbound, inbound_rows, "inbounds")
    bulk(db, User, user_rows, "users")
    bulk(db, Subscription, sub_rows, "subscriptions")
    bulk(db, Grant, grant_rows, "grants")
    if ingest:
        ingest_usage(db, pages)
    records = sum(len(p) for p in pages.values())
    return SeedResult(users, nodes, records, time.perf_counter() - started, tokens, pages)


def ingest_usage(db: Database, journals: dict[uuid.UUID, list[UsageLine]]) -> None:
    """Through the real ingestion path, so every rollup agrees with the others."""
    with transaction(db.sessions) as session:
        apply_round(session, journals, operator_settings.operator_zone(session))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True, help="database URL (an empty database)")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--nodes", type=int, default=50)
    args = parser.parse_args()
    result = seed(open_database(args.db), users=args.users, nodes=args.nodes)
    print(
        f"seeded {result.users} users, {result.nodes} nodes, {result.usage_records} usage "
        f"records in {result.seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
