"""Cut-off at the node with real sing-box: over-quota and expired users are cut within 10 s,
their credentials leave the config, and everyone else keeps working."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
from pathlib import Path

import pytest

from tests.accounting.reference import Reference
from tests.fixtures.singbox_api import Downloader, SingBoxLab
from tests.fixtures.sshd import wait_until
from vpanel_node.accountant import Accountant
from vpanel_node.api_client import ApiClient
from vpanel_node.enforcer import Enforcer

pytestmark = pytest.mark.e2e
MIB = 1 << 20
CUT_WITHIN = 10.0


def _user_names(config: Path) -> set[str]:
    data = json.loads(config.read_text())
    return {u["name"] for inbound in data["inbounds"] for u in inbound.get("users", [])}


def test_over_quota_and_expired_users_are_cut_within_ten_seconds(
    tmp_path: Path, singbox_lab: SingBoxLab
) -> None:
    lab = singbox_lab
    heavy, expiring, fine = lab.users
    entitlements = tmp_path / "entitlements.json"

    def entitle(expiry_ms: int | None) -> None:
        entitlements.write_text(
            json.dumps(
                {
                    "as_of_seq": 0,
                    "users": {
                        heavy: {"expiry": None, "remaining": 5 * MIB},
                        expiring: {"expiry": expiry_ms, "remaining": None},
                        fine: {"expiry": None, "remaining": None},
                    },
                }
            )
        )

    entitle(None)
    accountant = Accountant(
        ApiClient(lab.endpoint), tmp_path / "usage", interval=0.5, flush_interval=2.0
    ).start()
    server = lab.server
    assert server is not None
    enforcer = Enforcer(
        accountant,
        entitlements,
        lab.config_path,
        tmp_path / "blocked.json",
        lambda: server.signal(signal.SIGHUP),
        tick=1.0,
    ).start()
    reference = Reference.subscribe(lab.endpoint)
    try:
        wait_until(accountant.connected.is_set, 10, "accountant subscribed")
        heavy_dl = Downloader(lab, "trojan", heavy)
        heavy_dl.start()
        wait_until(lambda: heavy_dl.cut_at is not None, 30, "heavy user cut")
        subscriptions = accountant.subscriptions
        crossed = reference.crossed_at(heavy, 5 * MIB)
        assert crossed is not None and heavy_dl.cut_at is not None
        assert heavy_dl.cut_at - crossed < CUT_WITHIN
        wait_until(lambda: heavy not in _user_names(lab.config_path), 10, "credential removed")
        # The removal reloads sing-box (every connection drops); wait until it is back.
        wait_until(lambda: accountant.subscriptions > subscriptions, 10, "sing-box reloaded")

        expiring_dl = Downloader(lab, "shadowsocks", expiring)
        expiring_dl.start()
        expiry_mono = time.monotonic() + 3
        entitle(int((time.time() + 3) * 1000))  # the desktop learns of a refund: expires in 3 s
        wait_until(lambda: expiring_dl.cut_at is not None, 30, "expired user cut")
        assert expiring_dl.cut_at is not None
        assert expiry_mono - 0.5 <= expiring_dl.cut_at < expiry_mono + CUT_WITHIN
        wait_until(lambda: expiring not in _user_names(lab.config_path), 10, "credential removed")

        assert fine in _user_names(lab.config_path)
        assert lab.download("vless", fine, MIB) == MIB  # everyone else keeps working
        with pytest.raises(urllib.error.HTTPError, match="502"):  # no credential any more
            lab.opener("vless", heavy).open(f"{lab.origin_url}/bytes/1000", timeout=10)
        assert [name for name, _ in enforcer.cut_log] == [heavy, expiring]
    finally:
        enforcer.stop()
        accountant.stop()
        reference.stop()
