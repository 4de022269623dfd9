"""Billing accuracy end to end with real sing-box: client → server → api → accountant →
journal → collection → database, across collection cycles, a helper restart and a
sing-box restart; and what a reload of sing-box mid-download may cost (the bound stated
in `vpanel_node.accountant`).

"Reported by sing-box" means reported to the accountant's own stream: a tap folds those
very batches independently (see `tests.accounting.reference` for why a second subscriber
is not an exact yardstick). "Actually transferred" is what the HTTP client sent and got."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.accounting.helpers import REPO, LocalShell, make_node
from tests.accounting.reference import Reference
from tests.fixtures.singbox_api import PROTOCOLS, SingBoxLab
from tests.fixtures.sshd import wait_until
from vpanel_core.db import transaction
from vpanel_core.models import UsageTotal, User
from vpanel_core.runtime import Database
from vpanel_core.usage.collect import NodeJournal, collect_node
from vpanel_node.accountant import Accountant
from vpanel_node.journal import scan
from vpanel_node.supervisor import reload_child

pytestmark = pytest.mark.e2e
MIB = 1 << 20


def _start(lab: SingBoxLab, directory: Path, reference: Reference) -> Accountant:
    client = reference.tap(lab.endpoint)
    accountant = Accountant(client, directory, interval=0.2, flush_interval=0.3)
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


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("restart_sing_box", [False, True])
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
    reference = Reference()
    sent = dict.fromkeys(lab.users, 0)
    accountant = _start(lab, tmp_path / "usage", reference)
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
        # … and comes back: its offsets come from the journal.
        accountant = _start(lab, tmp_path / "usage", reference)
        pull(5 * MIB)
        collect_node(shell, database.sessions, node.id, where)
        got["n"] += len(stream.read())
        stream.close()
        assert got["n"] == 6 * MIB
        sent[long_user] += got["n"]
        wait_until(reference.all_closed, 10, "every connection closed")
        if restart_sing_box:
            seen = accountant.subscriptions
            lab.restart_server()  # new connection ids: nothing may count twice
            wait_until(lambda: accountant.subscriptions > seen, 10, "accountant resubscribed")
        _traffic(lab, sent, 1)
        wait_until(reference.all_closed, 10, "every connection closed")
        billed: dict[str, int] = {}
        reported: dict[str, int] = {}

        def caught_up() -> bool:
            reported.update(reference.per_user())  # a late duplicate CLOSED may still raise it
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
            select(UsageTotal.user_id, func.sum(UsageTotal.uplink + UsageTotal.downlink)).group_by(
                UsageTotal.user_id
            )
        ).all()
    return {str(user_id): int(total) for user_id, total in rows}


class Stream(threading.Thread):
    """An endless download through the proxy; counts body bytes as they arrive. It ends at
    EOF or after IDLE seconds without data: TUIC's client notices a vanished server only at
    its QUIC idle timeout, so after a reload its stream would otherwise hang on."""

    IDLE = 2.0

    def __init__(self, lab: SingBoxLab, protocol: str, user: str, rate: int) -> None:
        super().__init__(daemon=True)
        url = f"{lab.origin_url}/stream/{rate}"
        self.response = lab.opener(protocol, user).open(url, timeout=self.IDLE)
        self.received = 0

    def run(self) -> None:
        try:
            while chunk := self.response.read1(65536):
                self.received += len(chunk)
        except (OSError, ValueError):
            pass


def test_reload_mid_download_bills_all_but_the_reload_window(
    tmp_path: Path, singbox_lab: SingBoxLab
) -> None:
    """Live connections on every protocol while the helper reloads sing-box (the supervisor's
    `reload_child`, which the enforcer's and the desktop's reloads go through). Without the
    accountant's refresh each connection loses up to one `interval` (here the production
    1 s: 4-11 % of these downloads measured); with it, at most what moved after the
    refresh, which stays under 1 % while sing-box takes < 80 ms to close them."""
    lab, user = singbox_lab, singbox_lab.users[0]
    rate, before_reload = MIB // 2, 4 * MIB  # per connection: ~8 s of traffic before it
    reference = Reference()
    accountant = Accountant(reference.tap(lab.endpoint), tmp_path / "usage", flush_interval=0.3)
    accountant.start()
    streams = [Stream(lab, protocol, user, rate) for protocol in PROTOCOLS]
    try:
        wait_until(accountant.connected.is_set, 10, "accountant subscribed")
        for stream in streams:
            stream.start()
        wait_until(lambda: all(s.received >= before_reload for s in streams), 30, "downloads")
        assert lab.server is not None and lab.server.proc is not None
        seen, at_reload = accountant.subscriptions, [s.received for s in streams]
        reload_child(lab.server.proc, accountant.refresh)
        wait_until(lambda: not any(s.is_alive() for s in streams), 10, "reload cut downloads")
        wait_until(lambda: accountant.subscriptions > seen + 1, 10, "resubscribed after reload")
        client = sum(s.received for s in streams)
        after_refresh = client - sum(at_reload)

        def billed() -> int:
            data = accountant.journal.path.read_bytes()
            return sum(line.up + line.down for line in scan(data).records if line.user == user)

        wait_until(lambda: billed() == reference.per_user()[user], 10, "journal caught up")
    finally:
        accountant.stop()
        reference.stop()
    assert billed() == reference.per_user()[user]  # to the byte
    lost = client - billed()  # negative: headers and requests, which sing-box counts too
    assert lost <= after_refresh, (lost, after_refresh)
    assert abs(lost) <= client * 0.01, (lost, client)
