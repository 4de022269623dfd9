"""Watch the receiving address: `poll_tron_once` and the loop the portal runs with it.

Network reads happen outside any transaction; each transfer is then applied in its own
short transaction. The cursor (newest block time seen) is stored as a setting, and
each poll re-reads a little before it so a transfer confirmed late is not skipped —
re-reading is harmless, transfers are deduplicated by txid.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from vpanel_core import settings
from vpanel_core.billing import orders
from vpanel_core.billing.config import TRON_ADDRESS_SETTING, BillingConfig
from vpanel_core.billing.errors import PaymentUnavailable
from vpanel_core.billing.tron.client import TronGrid
from vpanel_core.billing.tron.matcher import apply_transfer
from vpanel_core.db import transaction
from vpanel_core.timeutil import utcnow

log = logging.getLogger(__name__)
CURSOR_SETTING = "tron_poll_cursor_ms"
OVERLAP = timedelta(minutes=10)
FIRST_LOOKBACK = timedelta(days=1)
ACTOR = "tron:poller"


@dataclass
class PollReport:
    seen: int = 0
    outcomes: list[str] = field(default_factory=list)
    expired: int = 0


def poll_tron_once(
    sessions: sessionmaker[Session], client: TronGrid, now: datetime | None = None
) -> PollReport:
    now = now or utcnow()
    report = PollReport()
    with transaction(sessions) as session:
        to = str(settings.get(session, TRON_ADDRESS_SETTING) or "")
        cursor_ms = settings.get(session, CURSOR_SETTING)
    if to:
        since = (
            datetime.fromtimestamp(int(cursor_ms) / 1000, UTC) - OVERLAP
            if cursor_ms
            else now - FIRST_LOOKBACK
        )
        transfers = list(client.incoming_transfers(to, since))
        for transfer in transfers:
            with transaction(sessions) as session:
                report.outcomes.append(apply_transfer(session, transfer, ACTOR))
        report.seen = len(transfers)
        if transfers:
            newest = max(int(t.block_at.timestamp() * 1000) for t in transfers)
            with transaction(sessions) as session:
                settings.put(session, CURSOR_SETTING, max(newest, int(cursor_ms or 0)))
    with transaction(sessions) as session:
        report.expired = orders.expire_overdue(session, now)
    return report


class TronPoller:
    """A daemon thread polling every `config.tron_poll_seconds`; `stop()` ends it."""

    def __init__(self, sessions: sessionmaker[Session], config: BillingConfig) -> None:
        self.sessions = sessions
        self.config = config
        self.client = TronGrid(
            config.trongrid_url,
            api_key=config.trongrid_api_key,
            timeout=config.http_timeout,
            contract=config.usdt_contract,
        )
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="tron-poller", daemon=True)

    def start(self) -> TronPoller:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=self.config.http_timeout + 5)
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                poll_tron_once(self.sessions, self.client)
            except PaymentUnavailable as exc:
                log.warning("TRON poll skipped: %s", exc.message)
            except Exception:
                log.exception("TRON poll failed")
            self._stop.wait(self.config.tron_poll_seconds)
