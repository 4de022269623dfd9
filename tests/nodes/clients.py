"""Shared by node tests: a real sing-box client built from the user's subscription."""

from __future__ import annotations

import json
import time
import uuid
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import requests

from tests.fixtures.clients import run_sing_box
from tests.fixtures.ports import free_port
from tests.fixtures.sshd import Fleet
from vpanel_core.client_view import user_proxies
from vpanel_core.db import transaction
from vpanel_core.formats import FormatOptions, get_format
from vpanel_core.models import Node, User


def fetch(port: int, url: str, retry_for: float) -> bytes:
    """GET through a client's mixed port, retried while its tunnel comes up."""
    session = requests.Session()
    session.trust_env = False
    deadline = time.monotonic() + retry_for
    while True:
        try:
            response = session.get(url, proxies={"http": f"http://127.0.0.1:{port}"}, timeout=3)
            response.raise_for_status()
            return response.content
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def sing_box_client_config(outbound: dict[str, Any], mixed: int) -> dict[str, Any]:
    return {
        "log": {"level": "info"},
        "inbounds": [{"type": "mixed", "listen": "127.0.0.1", "listen_port": mixed}],
        "outbounds": [outbound],
        "route": {"final": outbound["tag"]},
    }


def client_for(
    fleet: Fleet, node_id: uuid.UUID, user_id: uuid.UUID, tag: str, workdir: Path
) -> tuple[AbstractContextManager[Any], int]:
    """A sing-box client for one inbound, from the generated sing-box subscription."""
    node = fleet.node(node_id)
    with transaction(fleet.db.sessions) as session:
        user = session.get(User, user_id)
        assert user is not None
        nodes = [n for n in [session.get(Node, node_id)] if n is not None]
        generated = json.loads(
            get_format("sing_box").generate(user_proxies(nodes, user), FormatOptions())
        )
    outbound = next(o for o in generated["outbounds"] if o["tag"] == f"{node.name}-{tag}")
    mixed = free_port()
    return run_sing_box(sing_box_client_config(outbound, mixed), workdir, ready_port=mixed), mixed
