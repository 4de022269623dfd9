"""`vpanel-portal` as operators run it: a waitress process configured by environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.fixtures.ports import free_port


def test_serve_migrates_listens_and_masks_secrets_in_its_log(tmp_path: Path):
    port = free_port()
    env = {
        **os.environ,
        "VPANEL_HOME": str(tmp_path),
        "VPANEL_PORTAL_PORT": str(port),
        "VPANEL_PORTAL_HOST": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
    }
    env.pop("VPANEL_SECRET_KEY", None)
    log = tmp_path / "portal.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "portal.serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "portal did not start"
            time.sleep(0.1)
        secret_token = "Q" * 43
        missing = requests.get(f"{base}/api/subscription/{secret_token}", timeout=5)
        assert missing.status_code == 404
        assert missing.json()["code"] == "SUBSCRIPTION_NOT_FOUND"
        assert (tmp_path / "served.db").exists()
        key_file = tmp_path / "portal_secret.key"
        assert key_file.stat().st_mode & 0o777 == 0o600
    finally:
        process.terminate()
        process.wait(timeout=15)
    text = log.read_text()
    assert "/api/subscription/QQQQ…" in text
    assert secret_token not in text
    assert key_file.read_text().strip() not in text
