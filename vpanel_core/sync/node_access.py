"""Portal side: what a node may serve, pulled by the node itself (authenticated per node).

A user's proxy credentials are derived from the user's two stored secrets
(`vpanel_core.credentials`), so the pull carries those and the node builds the users of
every inbound itself: a customer who registered and paid on the portal while the desktop
was off is served without any push from the desktop.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from vpanel_core.credentials import (
    SS2022_KEY_BYTES,
    inbound_user_name,
    ss2022_user_key,
    user_password,
)
from vpanel_core.entitlement import Status
from vpanel_core.models import Node, User
from vpanel_core.secrets_util import same
from vpanel_core.services import ledger
from vpanel_core.sync.errors import NodeAuthFailed
from vpanel_core.sync.models import NodeCredential
from vpanel_core.sync.node_tokens import token_hash
from vpanel_core.usage.history import last_nodes
from vpanel_core.usage.shares import allowed_nodes, allowed_on, node_shares


def authenticate(session: Session, node_id: str, token: str) -> uuid.UUID:
    """The node's id if `token` is its pull token; one coded failure for every mismatch."""
    try:
        key = uuid.UUID(node_id)
    except ValueError:
        raise NodeAuthFailed("unknown node or wrong token") from None
    credential = session.get(NodeCredential, key)
    if credential is None or not same(credential.token_hash, token_hash(token)):
        raise NodeAuthFailed("unknown node or wrong token")
    return key


def entitlements_for_node(session: Session, node_id: uuid.UUID) -> list[dict[str, Any]]:
    """Active users allowed on this node, with the credential material its inbounds need.

    Each item: ``name`` (the sing-box user name, the accounting key), ``user_id``,
    ``uuid`` (vless / vmess / tuic), ``password`` (trojan / hysteria2 / tuic / anytls),
    ``ss2022`` (method → user key, for the node's Shadowsocks 2022 inbounds),
    ``expiry`` (ISO), ``remaining`` (bytes, None = unlimited: this node's share of what
    the user has left, split over the enabled nodes the user may use exactly as the
    desktop's entitlements file splits it, so k nodes together allow the remaining once,
    not k times), ``allowance`` and ``used`` (bytes, the whole user's; for nodes older
    than ``remaining``) and ``period_start`` (ISO, the reset period these count in; None
    without resets), so the node never applies one period's figures in the next.
    Users not active (disabled, expired, over quota) are absent: the node removes them.
    Everything is read in bulk (users, ledger, last nodes), never a query per user.
    """
    node = session.scalar(
        select(Node).where(Node.id == node_id).options(selectinload(Node.inbounds))
    )
    if node is None or not node.enabled:
        return []
    methods = sorted(
        {
            str(i.settings.get("method"))
            for i in node.inbounds
            if i.enabled and str((i.settings or {}).get("method")) in SS2022_KEY_BYTES
        }
    )
    fleet: list[tuple[uuid.UUID, str]] = [
        (key, group)
        for key, group in session.execute(select(Node.id, Node.group).where(Node.enabled.is_(True)))
    ]
    users = [
        u
        for u in session.scalars(select(User).where(User.enabled.is_(True)))
        if allowed_on(u.node_groups, node.group)
    ]
    ents = ledger.entitlements(session, users)
    last_node = last_nodes(session, [u.id for u in users])
    peers: dict[tuple[str, ...], list[uuid.UUID]] = {}  # a few group sets for many users
    result = []
    for user in users:
        ent = ents[user.id]
        if ent.status is not Status.ACTIVE:
            continue
        groups = tuple(sorted(user.node_groups or ()))
        if groups not in peers:
            peers[groups] = allowed_nodes(groups, fleet)
        nodes = peers[groups]
        share = node_shares(ent.remaining, nodes, last_node.get(user.id)).get(node_id, 0)
        result.append(
            {
                "name": inbound_user_name(user.id),
                "user_id": str(user.id),
                "uuid": str(user.credential),
                "password": user_password(user.proxy_secret),
                "ss2022": {m: ss2022_user_key(user.proxy_secret, m) for m in methods},
                "expiry": ent.expiry.isoformat() if ent.expiry else None,
                "remaining": share,
                "allowance": ent.allowance,
                "used": ent.used,
                "period_start": ent.period_start.isoformat() if ent.period_start else None,
            }
        )
    return result
