"""How much of a user's remaining allowance each node may spend before the next sync.

Nodes do not see each other's usage between syncs. If every node were told the whole
remaining allowance R, a user on k nodes could spend up to k·R. Splitting R instead
(Σ shares ≤ R) makes the cross-node overshoot zero, and the total bound becomes

    used ≤ allowance + Σ_nodes (cut latency_n × throughput_n)

where cut latency is the enforcer tick plus the API event interval (≈ 2 s by default,
always < 10 s). The split favours the node the user's traffic last went through, so a
user who lives on one node keeps most of the allowance there; every node keeps a floor
so moving still works until the next sync re-balances.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


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
