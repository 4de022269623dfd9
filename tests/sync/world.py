"""Building blocks of test scenarios: desktop data, portal activity, derived state."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from vpanel_core.billing import fulfilment, orders
from vpanel_core.billing.fulfilment import IncomingPayment
from vpanel_core.db import transaction
from vpanel_core.entitlement import Entitlement
from vpanel_core.models import Inbound, Node, Plan, Subscription, User
from vpanel_core.runtime import Database
from vpanel_core.services import accounts, ledger, plans, subscriptions, users
from vpanel_core.timeutil import utcnow

NOW = utcnow()


def seed_desktop(db: Database, n_users: int = 20) -> None:
    """Plans, one node with inbounds (server secrets included), users with grants."""
    with transaction(db.sessions) as session:
        basic = plans.create_plan(
            session, plans.NewPlan("Basic", 500, "USD", 30, traffic_bytes=50 << 30)
        )
        plans.create_plan(
            session,
            plans.NewPlan("Premium", 1500, "USD", 30, traffic_bytes=0, node_groups=("premium",)),
        )
        node = Node(
            name="tokyo",
            host="tokyo.example.com",
            api_secret="node-api-secret",
            ssh_key_ref="-----BEGIN OPENSSH PRIVATE KEY-----secret",
            host_key="ssh-ed25519 AAAA",
        )
        node.inbounds = [
            Inbound(
                tag="vless",
                protocol="vless",
                listen_port=443,
                tls_mode="reality",
                sni="www.example.com",
                settings={
                    "reality_public_key": "pub",
                    "reality_private_key": "PRIVATE",
                    "short_ids": ["ab"],
                },
            ),
            Inbound(tag="trojan", protocol="trojan", listen_port=8443, sni="t.example.com"),
        ]
        session.add(node)
        for i in range(n_users):
            user = users.create_user(
                session,
                users.NewUser(
                    username=f"user{i:03d}",
                    email=f"u{i}@example.com",
                    days=10 + i,
                    traffic_bytes=(i + 1) << 30,
                ),
            )
            if i % 3 == 0:
                users.apply_plan(session, user, basic, grant_id=f"manual:{i}", source="manual")


def register_and_pay(portal: Database, email: str, plan_name: str = "Basic") -> uuid.UUID:
    """What the portal does for a customer: register, order, pay (grant from the payment)."""
    with transaction(portal.sessions) as session:
        user_id = accounts.register(session, email, "correct horse battery").id
    buy(portal, user_id, plan_name, f"ref-{email}")
    return user_id


def buy(portal: Database, user_id: uuid.UUID, plan_name: str, ref: str) -> None:
    """A customer of the portal orders a plan and pays for it (grant from the payment)."""
    with transaction(portal.sessions) as session:
        customer = session.get(User, user_id)
        plan = session.scalar(select(Plan).where(Plan.name == plan_name))
        assert customer is not None and plan is not None
        order = orders.create_order(session, customer, plan, provider="stripe", actor="test")
        order_id = order.id
        amount, currency = fulfilment.expected_amount(order)
    with transaction(portal.sessions) as session:
        fulfilment.settle(
            session, order_id, IncomingPayment("stripe", ref, amount, currency, actor="test")
        )


def regenerate_token(portal: Database, user_id: uuid.UUID) -> str:
    with transaction(portal.sessions) as session:
        user = session.get(User, user_id)
        assert user is not None
        return subscriptions.regenerate(session, user).token


def access(portal: Database, user_id: uuid.UUID, at: datetime, ip: str) -> None:
    with transaction(portal.sessions) as session:
        sub = subscriptions.of_user(session, user_id)
        subscriptions.record_access(session, sub.id, ip, "sing-box 1.14", at)


def derived(db: Database, now: datetime = NOW) -> dict[uuid.UUID, Entitlement]:
    with db.sessions() as session:
        everyone = session.scalars(select(User)).all()
        return ledger.entitlements(session, everyone, now)


def public_state(db: Database) -> dict[str, dict[str, Any]]:
    """What both sides must agree on per user: profile, token, status fields."""
    with db.sessions() as session:
        rows = session.execute(select(User, Subscription).join(Subscription)).all()
        return {
            str(u.id): {
                "username": u.username,
                "email": u.email,
                "alias": u.alias,
                "enabled": u.enabled,
                "password_hash": u.password_hash,
                "credential": str(u.credential),
                "proxy_secret": u.proxy_secret,
                "plan_id": str(u.plan_id),
                "node_groups": u.node_groups,
                "token": s.token,
                "short_code": s.short_code,
            }
            for u, s in rows
        }
