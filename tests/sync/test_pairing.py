"""Pairing with a one-time code: only the right, fresh, unused code pairs."""

from __future__ import annotations

import logging

import pytest

from tests.sync.conftest import PORTAL_URL, Pair
from vpanel_core.sync.errors import NotPaired, PairingCodeInvalid
from vpanel_core.sync.models import SyncPeer


def test_right_code_pairs_and_exchanges_public_keys(sync_pair: Pair) -> None:
    code = sync_pair.portal_sync.issue_pairing_code()
    portal_key = sync_pair.client.pair(PORTAL_URL, code.lower().replace("-", " "))
    with sync_pair.desktop.sessions() as session:
        assert session.get(SyncPeer, "portal").key_id == portal_key  # type: ignore[union-attr]
    with sync_pair.portal.sessions() as session:
        assert session.get(SyncPeer, "desktop") is not None


def test_wrong_code_is_rejected_and_logged(
    sync_pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    sync_pair.portal_sync.issue_pairing_code()
    with caplog.at_level(logging.WARNING, "vpanel.sync"), pytest.raises(PairingCodeInvalid):
        sync_pair.client.pair(PORTAL_URL, "AAAA-BBBB-CCCC")
    assert "SYNC_PAIRING_CODE_INVALID" in caplog.text
    assert not sync_pair.client.is_paired()


def test_a_code_works_only_once(sync_pair: Pair) -> None:
    code = sync_pair.portal_sync.issue_pairing_code()
    sync_pair.client.pair(PORTAL_URL, code)
    with pytest.raises(PairingCodeInvalid):
        sync_pair.client.pair(PORTAL_URL, code)


def test_unpaired_desktop_cannot_publish(sync_pair: Pair) -> None:
    with pytest.raises(NotPaired):
        sync_pair.client.sync_once()


def test_pairing_code_endpoint_is_admin_only(sync_pair: Pair) -> None:
    response = sync_pair.app.test_client().post(
        "/api/sync/pairing-code", headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code == 401


def test_pair_code_command_prints_a_code_that_never_reaches_the_log(tmp_path) -> None:
    import re
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("vpanel-portal")
    env = {"VPANEL_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [str(script), "pair-code"], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    code = done.stdout.strip()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", code)
    assert code not in done.stderr
    assert "pairing code was issued" in done.stderr
