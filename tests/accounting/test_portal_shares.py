"""The portal's node pull gives each node its share of a user's remaining allowance, split
as the desktop's entitlements file splits it (issue #7): over the enabled nodes of the
user's groups, most of it on the node the user was last seen on, never more in total than
what is left."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from vpanel_core.credentials import inbound_user_name
from vpanel_core.db import transaction
from vpanel_core.runtime import Database
from vpanel_core.services import ledger
from vpanel_core.services.nodes import NewNode, create_node
from vpanel_core.services.users import NewUser, create_user
from vpanel_core.sync.node_access import entitlements_for_node
from vpanel_core.timeutil import utcnow
from vpanel_core.usage import entitlements_file
from vpanel_core.usage.ingest import apply_records
from vpanel_core.usage.schema import UsageLine

ALLOWANCE = 10_000
USED = 1_000


def test_portal_pull_splits_the_remaining_over_the_users_three_nodes_favouring_the_last(
    database: Database,
) -> None:
    with transaction(database.sessions) as s:
        asia = [create_node(s, NewNode(f"asia{i}", "127.0.0.1", group="asia")) for i in range(3)]
        create_node(s, NewNode("asia-off", "127.0.0.1", group="asia")).enabled = False
        europe = create_node(s, NewNode("eu", "127.0.0.1", group="eu"))
        spec = NewUser("limited", days=30, traffic_bytes=ALLOWANCE, node_groups=("asia",))
        user = create_user(s, spec)
        anywhere = create_user(s, NewUser("unlimited"))
        ledger.renew(s, anywhere, days=30, unlimited=True)
        name = inbound_user_name(user.id)
        now = int(utcnow().timestamp() * 1000)
        last = asia[1]
        apply_records(s, last.id, [UsageLine(1, name, 0, USED, now - 1000, now)], ZoneInfo("UTC"))
    with database.sessions() as s:
        pulled: dict[Any, dict[str, dict[str, Any]]] = {
            node.id: {item["name"]: item for item in entitlements_for_node(s, node.id)}
            for node in [*asia, europe]
        }
        peers = {user.id: [node.id for node in asia]}
        files = {node.id: entitlements_file.build(s, node.id, [user], peers) for node in asia}

    remaining = ALLOWANCE - USED
    shares = {node.id: pulled[node.id][name]["remaining"] for node in asia}
    assert remaining - len(asia) < sum(shares.values()) <= remaining  # once, less rounding
    others = [share for node_id, share in shares.items() if node_id != last.id]
    assert shares[last.id] > sum(others) > 0  # most where the user was last seen; a floor elsewhere
    assert shares == {node.id: files[node.id]["users"][name]["remaining"] for node in asia}
    for node in asia:  # the whole figures stay for nodes older than `remaining`
        assert (pulled[node.id][name]["allowance"], pulled[node.id][name]["used"]) == (
            ALLOWANCE,
            USED,
        )
    assert name not in pulled[europe.id]  # not the user's group: neither served nor a peer
    unlimited = inbound_user_name(anywhere.id)
    assert all(pulled[node.id][unlimited]["remaining"] is None for node in [*asia, europe])
