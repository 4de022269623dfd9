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
`node_split` over the enabled nodes the user may use (`allowed_on`), so a node enforcing
the larger of the two (the portal feed) gets the same share from each while they agree.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

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


@dataclass(frozen=True, slots=True, eq=False)
class Split(Generic[K]):
    """How any remaining allowance divides over some nodes: shares are proportional to
    weights that depend on the nodes and their recent usage only, so the users of a fleet
    sharing their nodes and last node share one `Split` (a few dozen for 100,000 users).
    Hashed by identity: a node's file looks its weight up once per split, not per user."""

    weights: dict[K, int]
    total: int

    @classmethod
    def of(cls, nodes: Sequence[K], recent: Mapping[K, int]) -> Split[K]:
        """Recent usage plus an equal floor: a node with no history still gets a share."""
        if not nodes:
            return cls({}, 0)
        total = sum(max(recent.get(n, 0), 0) for n in nodes)
        floor = total // len(nodes) + 1  # equal split when there is no history
        weights = {n: max(recent.get(n, 0), 0) + floor for n in nodes}
        return cls(weights, sum(weights.values()))

    def shares(self, remaining: int | None) -> dict[K, int | None]:
        """Every node's share, never more than `remaining` together."""
        if remaining is None:
            return dict.fromkeys(self.weights)
        return {n: remaining * w // self.total for n, w in self.weights.items()}

    def portion(self, remaining: int | None, weight: int | None) -> int | None:
        """One node's share given its weight (`weights.get(node)`, None for a node off the
        split, which gets 0): `shares(remaining).get(node, 0)` without every other node's."""
        if weight is None:
            return 0
        return None if remaining is None else remaining * weight // self.total


def split_allowance(
    remaining: int | None, nodes: Sequence[K], recent: Mapping[K, int]
) -> dict[K, int | None]:
    """Shares of `remaining` per node, weighted by recent usage; never more than `remaining`."""
    return Split.of(nodes, recent).shares(remaining)


def node_split(nodes: Sequence[K], last_node: K | None) -> Split[K]:
    """The split every side uses: most of what is left on the node the user was last seen on."""
    recent = {last_node: LAST_NODE_WEIGHT} if last_node is not None else {}
    return Split.of(nodes, recent)


def node_shares(
    remaining: int | None, nodes: Sequence[K], last_node: K | None
) -> dict[K, int | None]:
    """`node_split`'s shares of `remaining`."""
    return node_split(nodes, last_node).shares(remaining)
