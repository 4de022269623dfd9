"""How much of a user's remaining allowance each node may spend before the next sync.

Nodes do not see each other's usage between syncs. If every node were told the whole
remaining allowance R, a user on k nodes could spend up to k·R. Splitting R instead
(Σ shares ≤ R) makes the cross-node overshoot zero, and the total bound becomes

    used ≤ allowance + Σ_nodes (cut latency_n × throughput_n)

where cut latency is the enforcer tick plus the API event interval (≈ 2 s by default,
always < 10 s). The split favours the node the user's traffic last went through, so a
user who lives on one node keeps most of the allowance there; every node keeps a floor
so moving still works until the next sync re-balances.

Both sides that tell nodes a limit, the desktop's entitlements file
(`usage.entitlements_file`) and the portal's node pull (`sync.node_access`), split with
`node_shares` over the enabled nodes the user may use (`allowed_on`), so a node enforcing
the larger of the two (the portal feed) gets the same share from each while they agree.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

# The split treats the node a user was last seen on as carrying all their recent traffic.
LAST_NODE_WEIGHT = 1 << 30


def allowed_on(user_groups: Iterable[str] | None, node_group: str) -> bool:
    """A user may use the nodes of their groups, or every node when they name none."""
    groups = set(user_groups or ())
    return not groups or node_group in groups


def allowed_nodes(user_groups: Iterable[str] | None, nodes: Iterable[tuple[K, str]]) -> list[K]:
    """The keys of the (key, group) `nodes` the user may use."""
    groups = list(user_groups or ())
    return [key for key, group in nodes if allowed_on(groups, group)]


def split_allowance(
    remaining: int | None, nodes: Sequence[K], recent: Mapping[K, int]
) -> dict[K, int | None]:
    """Shares of `remaining` per node, weighted by recent usage; never more than `remaining`."""
    if remaining is None:
        return dict.fromkeys(nodes)
    if not nodes:
        return {}
    total = sum(max(recent.get(n, 0), 0) for n in nodes)
    floor = total // len(nodes) + 1  # equal split when there is no history
    weights = {n: max(recent.get(n, 0), 0) + floor for n in nodes}
    weight_sum = sum(weights.values())
    return {n: remaining * weights[n] // weight_sum for n in nodes}


def node_shares(
    remaining: int | None, nodes: Sequence[K], last_node: K | None
) -> dict[K, int | None]:
    """The split every side uses: most of `remaining` on the node the user was last seen on."""
    recent = {last_node: LAST_NODE_WEIGHT} if last_node is not None else {}
    return split_allowance(remaining, nodes, recent)
