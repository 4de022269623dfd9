"""Orders, signed Stripe events and counters shared by the fault and load tests."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from sqlalchemy import func, select

from tests.fixtures.stripe_emulator import WEBHOOK_SECRET, StripeEmulator, sign
from vpanel_core.billing import orders
from vpanel_core.db import transaction
from vpanel_core.models import Grant, Order, Payment, Plan, User, WebhookEvent
from vpanel_core.runtime import Database
from vpanel_core.services import plans, users


def new_plan(db: Database) -> Plan:
    with transaction(db.sessions) as session:
        return plans.create_plan(
            session,
            plans.NewPlan(
                name="Monthly", price_minor=500, currency="USD", duration_days=30, traffic_bytes=1
            ),
        )


def paid_events(db: Database, plan: Plan, count: int) -> list[dict[str, Any]]:
    """`count` pending card orders (each its own customer) and the Stripe event paying each."""
    events = []
    with transaction(db.sessions) as session:
        for index in range(count):
            user = users.create_user(session, users.NewUser(username=f"buyer{index}"))
            order = orders.create_order(
                session, user, session.merge(plan), provider="stripe", actor="test"
            )
            checkout = {
                "id": f"cs_test_{secrets.token_hex(12)}",
                "object": "checkout.session",
                "client_reference_id": str(order.id),
                "amount_total": order.amount_minor,
                "currency": "usd",
                "payment_status": "paid",
                "payment_intent": f"pi_{secrets.token_hex(12)}",
            }
            order.provider_ref = checkout["id"]
            events.append(StripeEmulator.event("checkout.session.completed", checkout))
    return events


def deliver(
    url: str, event: dict[str, Any], *, headers: dict[str, str] | None = None, timeout: float = 30
) -> int:
    """POST one event signed now, as Stripe would; returns the status (0: no answer)."""
    payload = json.dumps(event).encode()
    try:
        return requests.post(
            f"{url}/webhooks/stripe",
            data=payload,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": sign(payload, WEBHOOK_SECRET),
                **(headers or {}),
            },
            timeout=timeout,
        ).status_code
    except requests.RequestException:
        return 0


@dataclass
class Books:
    orders_paid: int
    payments: int
    grants: int
    events: int
    grants_per_order: Counter[str]


def books(db: Database) -> Books:
    with transaction(db.sessions) as session:
        paid = session.scalar(select(func.count()).where(Order.status == "paid"))
        grant_ids = session.scalars(select(Grant.id).where(Grant.id.like("payment:stripe:%")))
        return Books(
            orders_paid=int(paid or 0),
            payments=int(session.scalar(select(func.count()).select_from(Payment)) or 0),
            grants=int(session.scalar(select(func.count()).select_from(Grant)) or 0),
            events=int(session.scalar(select(func.count()).select_from(WebhookEvent)) or 0),
            grants_per_order=Counter(grant_ids),
        )


def paid_order_refs(db: Database) -> set[str]:
    with transaction(db.sessions) as session:
        return set(session.scalars(select(Order.provider_ref).where(Order.status == "paid")))


def user_count(db: Database) -> int:
    with transaction(db.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(User)) or 0)


@dataclass
class Hammer:
    """Threads repeating one call until stopped; counts statuses (0 = no answer)."""

    call: Callable[[int], int]
    threads: int = 6
    statuses: Counter[int] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Hammer:
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(index,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def _run(self, index: int) -> None:
        while not self._stop.is_set():
            status = self.call(index)
            with self._lock:
                self.statuses[status] += 1

    def count(self, status: int) -> int:
        with self._lock:
            return self.statuses[status]

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=60)
        assert not any(w.is_alive() for w in self._workers)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll until `condition()` holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def client_ip() -> dict[str, str]:
    """A distinct client address per request (the portal trusts one proxy hop in these
    tests), so per-address rate limits model many customers, not one."""
    octets = [secrets.randbelow(250) + 1 for _ in range(3)]
    return {"X-Forwarded-For": "10.{}.{}.{}".format(*octets)}
