"""Small builders shared by the accounting tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from vpanel_core.models import Node, User
from vpanel_core.services.nodes import NewNode, create_node
from vpanel_core.services.users import NewUser, create_user

REPO = Path(__file__).resolve().parents[2]


def install_journal_helper(remote_dir: str) -> Path:
    """What collection runs on a node, without bootstrapping it: the helper package where
    bootstrap puts it (`<remote_dir>/lib`); returns the journal dir next to it."""
    shutil.copytree(
        REPO / "vpanel_node",
        Path(remote_dir) / "lib" / "vpanel_node",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return Path(remote_dir) / "usage"


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
