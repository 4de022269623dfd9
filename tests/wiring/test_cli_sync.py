"""`vpanel sync pair|now` against a real waitress portal and `vpanel node collect` against
real sshd nodes, run the way an operator types them (`cli.main`, own database URL)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from tests.fixtures.sshd import Fleet
from tests.wiring.conftest import Portal
from vpanel_core import cli, credentials
from vpanel_core.models import Subscription, User

pytestmark = pytest.mark.e2e


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """Exit code, the parsed --json output (None if nothing printed), stderr."""
    code = cli.main([*argv, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VPANEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VPANEL_DATABASE_URL", f"sqlite:///{tmp_path / 'desktop.db'}")
    return tmp_path / "home"


def test_pair_then_sync_now_publishes_a_cli_created_user(
    home: Path, portal: Portal, capsys: pytest.CaptureFixture[str]
) -> None:
    code, created, _ = run(capsys, "user", "create", "carol", "--days", "30", "--traffic", "5GB")
    assert code == 0 and isinstance(created, dict)

    code, paired, _ = run(capsys, "sync", "pair", portal.url, portal.pairing_code())
    assert code == 0 and paired["paired"] is True and paired["portal"] == portal.url

    code, report, _ = run(capsys, "sync", "now")
    assert code == 0 and isinstance(report, dict)
    assert report["pending"] == 0 and report["snapshot_pages"] >= 1

    with portal.db.sessions() as session:
        user = session.scalar(select(User).where(User.username == "carol"))
        assert user is not None and str(user.id) == created["id"]
        token = session.scalar(select(Subscription.token).where(Subscription.user_id == user.id))
    answer = requests.get(f"{portal.url}/api/subscription/{token}?format=sing_box", timeout=10)
    assert answer.status_code == 200

    code, _, err = run(capsys, "sync", "pair", portal.url, "AAAA-BBBB-CCCC")
    assert code == 2 and "code" in err.lower()


def test_node_collect_refreshes_entitlements_and_reports_an_unreachable_node(
    fleet: Fleet, home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VPANEL_DATABASE_URL", str(fleet.db.engine.url))
    up = fleet.add_node("edge-up")
    down = fleet.add_node("edge-down", bootstrap=False)
    user_id = fleet.add_user("dave", days=30)
    fleet.sshd[down].drop()

    code, rows, _ = run(capsys, "node", "collect", "edge-up")
    assert code == 0 and isinstance(rows, list)
    assert [r["node"] for r in rows] == ["edge-up"] and rows[0]["ok"] is True

    remote = Path(fleet.sshd[up].remote_dir)
    entitled = json.loads((remote / "entitlements.json").read_text())["users"]
    # dave (10 GiB, nothing used) may use both enabled nodes: this one holds half.
    assert entitled[credentials.inbound_user_name(user_id)]["remaining"] == 5 << 30

    terminal = Terminal()  # progress is drawn only on a terminal
    monkeypatch.setattr(sys, "stderr", terminal)
    code, rows, _ = run(capsys, "node", "collect")
    assert code == 1 and isinstance(rows, list)
    by_node = {r["node"]: r for r in rows}
    assert by_node["edge-up"]["ok"] is True
    assert by_node["edge-down"]["ok"] is False and by_node["edge-down"]["error"]
    last_line = terminal.getvalue().rstrip("\n").rsplit("\r", 1)[-1]
    assert f"[{'#' * cli.NodeProgress.WIDTH}] 2/2" in last_line
