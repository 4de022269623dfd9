"""Billing accuracy end to end with real sing-box: client → server → api → accountant →
journal → collection → database, across collection cycles, a helper restart and a
sing-box restart."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.accounting.helpers import REPO, LocalShell, make_node
from tests.accounting.reference import Reference
from tests.fixtures.singbox_api import PROTOCOLS, SingBoxLab
from tests.fixtures.sshd import wait_until
from vpanel_core.db import transaction
from vpanel_core.models import UsageRecord, User
from vpanel_core.runtime import Database
from vpanel_core.usage.collect import NodeJournal, collect_node
from vpanel_node.accountant import Accountant
from vpanel_node.api_client import ApiClient

pytestmark = pytest.mark.e2e
MIB = 1 << 20


def _start(lab: SingBoxLab, directory: Path) -> Accountant:
    accountant = Accountant(ApiClient(lab.endpoint), directory, interval=0.2, flush_interval=0.3)
    accountant.start()
    wait_until(accountant.connected.is_set, 10, "accountant subscribed")
    return accountant


def _traffic(lab: SingBoxLab, sent: dict[str, int], scale: int) -> None:
    for i, user in enumerate(lab.users):
        for protocol in PROTOCOLS:
            size = (i + 1) * scale * MIB // 2
            assert lab.download(protocol, user, size) == size
            lab.upload(protocol, user, size // 8)
            sent[user] += size + size // 8


SING_BOX_RESTART_GAP = pytest.mark.xfail(
    strict=False,
    reason="known gap (issue 7): around a sing-box restart the accountant and the observer "
    "sometimes disagree by 10-30 KB; helper restarts and collection cycles are exact",
)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "restart_sing_box", [False, pytest.param(True, marks=SING_BOX_RESTART_GAP)]
)
def test_billed_bytes_match_sing_box_exactly_across_restarts(
    database: Database, tmp_path: Path, singbox_lab: SingBoxLab, restart_sing_box: bool
) -> None:
    lab = singbox_lab
    with transaction(database.sessions) as s:
        for name in lab.users:
            s.add(User(id=uuid.UUID(name), username=f"u-{name[:8]}", proxy_secret="x"))
        node = make_node(s)
    shell = LocalShell()
    where = NodeJournal(package_dir=str(REPO), journal_dir=str(tmp_path / "usage"))
    reference = Reference(lab.endpoint)
    sent = dict.fromkeys(lab.users, 0)
    accountant = _start(lab, tmp_path / "usage")
    try:
        _traffic(lab, sent, 1)
        # A connection that stays open across collections and a helper restart.
        long_user = lab.users[0]
        url = f"{lab.origin_url}/slow/{6 * MIB}/{3 * MIB}"
        stream = lab.opener("trojan", long_user).open(url, timeout=10)
        got = {"n": 0}

        def pull(limit: int) -> None:
            while got["n"] < limit:
                got["n"] += len(stream.read(min(65536, limit - got["n"])))

        pull(2 * MIB)
        collect_node(shell, database.sessions, node.id, where)
        accountant.stop()  # the helper goes away mid-connection …
        pull(4 * MIB)
        accountant = _start(lab, tmp_path / "usage")  # … and comes back: offsets from the journal
        pull(5 * MIB)
        collect_node(shell, database.sessions, node.id, where)
        got["n"] += len(stream.read())
        stream.close()
        assert got["n"] == 6 * MIB
        sent[long_user] += got["n"]
        wait_until(reference.all_closed, 10, "every connection closed")
        if restart_sing_box:
            seen, watched = accountant.subscriptions, reference.subscriptions
            lab.restart_server()  # new connection ids: nothing may count twice
            wait_until(lambda: accountant.subscriptions > seen, 10, "accountant resubscribed")
            wait_until(lambda: reference.subscriptions > watched, 10, "reference resubscribed")
        _traffic(lab, sent, 1)
        wait_until(reference.all_closed, 10, "every connection closed")
        reported = reference.per_user()
        billed: dict[str, int] = {}

        def caught_up() -> bool:
            collect_node(shell, database.sessions, node.id, where)
            billed.update(_billed(database))
            return billed == reported

        try:
            wait_until(caught_up, 10, "collected usage caught up with sing-box")
        except TimeoutError:
            diff = {u: (billed.get(u), n) for u, n in reported.items() if billed.get(u) != n}
            message = f"billed ≠ reported by sing-box (billed, reported): {diff}"
            raise AssertionError(message) from None
    finally:
        accountant.stop()
        reference.stop()
    assert billed == reported  # to the byte
    for user in lab.users:
        assert abs(billed[user] - sent[user]) <= sent[user] * 0.01, user


def _billed(database: Database) -> dict[str, int]:
    with database.sessions() as s:
        rows = s.execute(
            select(
                UsageRecord.user_id, func.sum(UsageRecord.uplink + UsageRecord.downlink)
            ).group_by(UsageRecord.user_id)
        ).all()
    return {str(user_id): int(total) for user_id, total in rows}
