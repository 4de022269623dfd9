"""Small builders shared by the accounting tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.fixtures.sshd import Fleet
from vpanel_core.models import Node, UsageTotal, User
from vpanel_core.runtime import Database
from vpanel_core.services.nodes import NewNode, create_node
from vpanel_core.services.users import NewUser, create_user
from vpanel_node.journal import Journal

REPO = Path(__file__).resolve().parents[2]
Row = tuple[str, int, int, int, int]  # user, up, down, t0, t1 as the accountant journals them


def install_journal_helper(remote_dir: str) -> Path:
    """What collection runs on a node, without bootstrapping it: the helper package where
    bootstrap puts it (`<remote_dir>/lib`); returns the journal dir next to it."""
    shutil.copytree(
        REPO / "vpanel_node",
        Path(remote_dir) / "lib" / "vpanel_node",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return Path(remote_dir) / "usage"


def add_journal_node(fleet: Fleet, name: str, flushes: Sequence[Sequence[Row]]) -> uuid.UUID:
    """A node whose accountant journaled `flushes` (one commit each)."""
    node_id = fleet.add_node(name, bootstrap=False)
    journal = Journal(install_journal_helper(fleet.sshd[node_id].remote_dir)).open()
    for flush in flushes:
        journal.append(list(flush), {}, [])
    return node_id


def journal_dir(fleet: Fleet, node_id: uuid.UUID) -> Path:
    return Path(fleet.sshd[node_id].remote_dir) / "usage"


def total_bytes(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.sum(UsageTotal.uplink + UsageTotal.downlink))) or 0)


def make_users(session: Session, count: int, **spec: object) -> list[User]:
    return [create_user(session, NewUser(username=f"user{i}", **spec)) for i in range(count)]  # type: ignore[arg-type]


def make_node(session: Session, name: str = "n1") -> Node:
    return create_node(session, NewNode(name=name, host="127.0.0.1"))


@dataclass
class Output:
    stdout: str


class LocalShell:
    """Runs the node's journal commands as a local process — the same command line the
    SSH collection sends, minus the SSH hop."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def run(self, command: str, *, check: bool = True, timeout: float = 60.0) -> Output:
        self.commands.append(command)
        done = subprocess.run(
            ["/bin/sh", "-c", command.replace("python3", sys.executable, 1)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )
        return Output(done.stdout)
