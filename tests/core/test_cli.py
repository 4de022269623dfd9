"""The `vpanel` command line as a scripting operator uses it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vpanel_core.cli import main


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def run(db_url: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--db", db_url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_create_renew_and_show_a_user_as_json(db_url, capsys) -> None:
    code, out, _ = run(
        db_url,
        capsys,
        "user",
        "create",
        "alice",
        "--email",
        "a@example.com",
        "--days",
        "30",
        "--traffic",
        "50GB",
        "--json",
    )
    assert code == 0
    created = json.loads(out)
    assert created["status"] == "active"
    assert created["allowance_bytes"] == 50 * 2**30

    code, out, _ = run(
        db_url, capsys, "user", "renew", "alice", "--days", "5", "--traffic", "1GB", "--json"
    )
    renewed = json.loads(out)
    assert renewed["allowance_bytes"] == 51 * 2**30
    assert renewed["expiry"] > created["expiry"]


def test_disable_then_list_shows_disabled_status(db_url, capsys) -> None:
    run(db_url, capsys, "user", "create", "bob", "--days", "30")
    assert run(db_url, capsys, "user", "disable", "bob")[0] == 0
    _, out, _ = run(db_url, capsys, "user", "list", "--json")
    assert [u["status"] for u in json.loads(out)] == ["disabled"]


def test_links_show_token_urls_and_regenerate_revokes_the_old_token(db_url, capsys) -> None:
    run(db_url, capsys, "user", "create", "carol", "--days", "30")
    _, out, _ = run(db_url, capsys, "user", "links", "carol", "--json")
    first = json.loads(out)
    assert "/api/subscription/" in first["subscription"]
    assert first["formats"]["clash_meta"].endswith("?format=clash_meta")
    _, out, _ = run(db_url, capsys, "user", "links", "carol", "--regenerate", "--json")
    assert json.loads(out)["subscription"] != first["subscription"]


def test_plans_and_nodes_round_trip(db_url, capsys) -> None:
    code, out, _ = run(
        db_url,
        capsys,
        "plan",
        "create",
        "Basic",
        "--price",
        "9.99",
        "--days",
        "30",
        "--traffic",
        "100GB",
        "--reset",
        "monthly",
        "--json",
    )
    assert code == 0 and json.loads(out)["price_minor"] == 999
    code, out, _ = run(
        db_url, capsys, "node", "add", "hk1", "--host", "203.0.113.5", "--country", "hk", "--json"
    )
    assert code == 0 and json.loads(out)["country"] == "HK"
    _, out, _ = run(db_url, capsys, "node", "list", "--json")
    assert [n["name"] for n in json.loads(out)] == ["hk1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("user", "show", "nobody"), "no user 'nobody'"),
        (("user", "renew", "nobody", "--days", "1"), "no user 'nobody'"),
        (("user", "create", "x"), "username must be"),
        (("user", "create", "dave", "--traffic", "lots"), "invalid size"),
        (("plan", "create", "P", "--price", "-3", "--days", "30"), "price must be"),
        (("plan", "create", "P", "--price", "abc", "--days", "30"), "invalid price"),
    ],
)
def test_errors_are_one_clear_line_with_nonzero_exit(db_url, capsys, args, message) -> None:
    code, out, err = run(db_url, capsys, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and message in err
    assert "Traceback" not in err


def test_delete_needs_confirmation(db_url, capsys) -> None:
    run(db_url, capsys, "user", "create", "erin")
    code, _, err = run(db_url, capsys, "user", "delete", "erin")
    assert code == 2 and "--yes" in err
    assert run(db_url, capsys, "user", "show", "erin")[0] == 0
    assert run(db_url, capsys, "user", "delete", "erin", "--yes")[0] == 0
    assert run(db_url, capsys, "user", "show", "erin")[0] == 2


def test_installed_console_script_reports_errors_with_exit_code(db_url) -> None:
    script = Path(sys.executable).with_name("vpanel")
    done = subprocess.run(
        [str(script), "--db", db_url, "user", "show", "ghost"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "vpanel: error: no user 'ghost'"


def test_backup_create_and_list(db_url, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VPANEL_HOME", str(tmp_path / "home"))
    run(db_url, capsys, "user", "create", "frank")
    code, out, _ = run(db_url, capsys, "backup", "create", "--json")
    assert code == 0
    made = json.loads(out)["path"]
    _, out, _ = run(db_url, capsys, "backup", "list", "--json")
    assert [b["path"] for b in json.loads(out)] == [made]
