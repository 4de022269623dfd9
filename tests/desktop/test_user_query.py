"""The paged user query and dashboard stats agree with the ledger, on both backends."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.fixtures.usage import record_usage
from vpanel_core.db import transaction
from vpanel_core.entitlement import Status
from vpanel_core.models import Node, User
from vpanel_core.services import ledger, stats, users
from vpanel_core.services.user_query import (
    UserQuery,
    count_users,
    matching_ids,
    status_snapshot,
    user_page,
)


def seed(session: Session) -> dict[str, User]:
    made = {}
    for name, days, groups in (
        ("ann", 5, ("eu",)),
        ("ben", 0, ("asia",)),
        ("cat", 5, ("eu", "asia")),
        ("dan", 5, ()),
    ):
        made[name] = users.create_user(
            session,
            users.NewUser(username=name, days=days, traffic_bytes=1000, node_groups=groups),
        )
    users.set_enabled(session, made["dan"], False)
    node = Node(name="n", host="h", api_secret="x")
    session.add(node)
    session.flush()
    record_usage(session, made["cat"].id, 600, 600, node_id=node.id)
    return made


def test_snapshot_matches_ledger_entitlements_for_every_user(database):
    with transaction(database.sessions) as session:
        made = seed(session)
        snapshot = status_snapshot(session)
        ents = ledger.entitlements(session, list(made.values()))
    assert snapshot == {uid: e.status for uid, e in ents.items()}
    assert snapshot[made["cat"].id] is Status.TRAFFIC_EXCEEDED
    assert snapshot[made["ben"].id] is Status.EXPIRED


def test_filters_sort_and_paging_run_in_sql(database):
    with transaction(database.sessions) as session:
        made = seed(session)
        assert count_users(session, UserQuery(group="eu")) == 2
        assert count_users(session, UserQuery(status=Status.DISABLED)) == 1
        page = user_page(session, UserQuery(sort="username", descending=True), 1, 2)
        assert [r.username for r in page] == ["cat", "ben"]
        assert page[0].status is Status.TRAFFIC_EXCEEDED and page[0].used == 1200
        ids = matching_ids(session, UserQuery(status=Status.ACTIVE), status_snapshot(session))
        assert ids == [made["ann"].id]


def test_overview_counts_active_users_and_todays_traffic(database):
    with transaction(database.sessions) as session:
        seed(session)
        data = stats.overview(session)
    assert (data.users_total, data.users_active) == (4, 1)
    assert data.traffic_today == 1200 and data.usage_per_day[-1].value == 1200
    assert [u.username for u in data.top_users] == ["cat"]
