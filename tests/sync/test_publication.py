"""Desktop → portal: snapshot pages, then deltas; the portal serves what it received."""

from __future__ import annotations

from sqlalchemy import select

from tests.sync.conftest import Pair
from tests.sync.world import derived, public_state, seed_desktop
from vpanel_core.db import transaction
from vpanel_core.models import Inbound, Node, Plan, User
from vpanel_core.services import ledger, users
from vpanel_core.sync.models import NodeCredential


def test_snapshot_in_pages_gives_the_portal_the_same_users_and_entitlements(paired: Pair) -> None:
    seed_desktop(paired.desktop, n_users=20)
    report = paired.client.sync_once()
    assert report.snapshot_pages == 3  # 20 users in pages of 7
    assert public_state(paired.portal) == public_state(paired.desktop)
    assert derived(paired.portal) == derived(paired.desktop)
    assert paired.client.pending() == 0


def test_portal_serves_the_subscription_of_a_published_user(paired: Pair) -> None:
    seed_desktop(paired.desktop, n_users=2)
    paired.client.sync_once()
    token = public_state(paired.desktop)
    first = next(iter(token.values()))["token"]
    response = paired.app.test_client().get(f"/sub/{first}.json")
    assert response.status_code == 200
    assert b"tokyo.example.com" in response.get_data()


def test_server_secrets_are_never_published(paired: Pair) -> None:
    seed_desktop(paired.desktop, n_users=1)
    paired.client.sync_once()
    with paired.portal.sessions() as session:
        node = session.scalar(select(Node))
        assert node is not None
        assert node.ssh_key_ref == "" and node.host_key == "" and node.api_secret == ""
        settings = [i.settings for i in session.scalars(select(Inbound))]
        assert all("reality_private_key" not in s for s in settings)
        assert any(s.get("reality_public_key") == "pub" for s in settings)
        assert session.get(NodeCredential, node.id) is not None


def test_delta_carries_only_changes_and_operator_edits_reach_the_portal(paired: Pair) -> None:
    seed_desktop(paired.desktop, n_users=10)
    paired.client.sync_once()
    with transaction(paired.desktop.sessions) as session:
        bob = users.find_user(session, "user003")
        users.set_enabled(session, bob, False)
        users.update_profile(session, bob, notes="chargeback", node_groups=["premium"])
        ledger.renew(session, users.find_user(session, "user004"), days=7, grant_id="manual:extra")
        plan = session.scalar(select(Plan).where(Plan.name == "Premium"))
        assert plan is not None
        plan.price_minor = 1999
    assert paired.client.pending() > 0
    paired.transport.sent.clear()
    report = paired.client.sync_once()
    assert report.snapshot_pages == 0 and report.changes_published > 0
    assert paired.transport.sent.count("/api/sync/publish") == 1
    assert public_state(paired.portal) == public_state(paired.desktop)
    assert derived(paired.portal) == derived(paired.desktop)
    with paired.portal.sessions() as session:
        bob = users.find_user(session, "user003")
        assert (bob.enabled, bob.notes) == (False, "chargeback")
        assert session.scalar(select(Plan.price_minor).where(Plan.name == "Premium")) == 1999


def test_deleting_on_the_desktop_deletes_on_the_portal(paired: Pair) -> None:
    seed_desktop(paired.desktop, n_users=3)
    paired.client.sync_once()
    with transaction(paired.desktop.sessions) as session:
        users.delete_user(session, users.find_user(session, "user001"))
        node = session.scalar(select(Node))
        assert node is not None
        node.inbounds = [i for i in node.inbounds if i.tag != "trojan"]
    paired.client.sync_once()
    with paired.portal.sessions() as session:
        assert session.scalar(select(User).where(User.username == "user001")) is None
        assert [i.tag for i in session.scalars(select(Inbound))] == ["vless"]


def test_customer_fields_stay_with_the_portal_once_the_user_exists(paired: Pair) -> None:
    seed_desktop(paired.desktop, n_users=1)
    paired.client.sync_once()
    with transaction(paired.portal.sessions) as session:
        users.find_user(session, "user000").alias = "Customer's alias"
    with transaction(paired.desktop.sessions) as session:
        user = users.find_user(session, "user000")
        user.alias = "operator typo"
        user.notes = "VIP"
    paired.client.sync_once()
    with paired.portal.sessions() as session:
        user = users.find_user(session, "user000")
        assert (user.alias, user.notes) == ("Customer's alias", "VIP")
    with paired.desktop.sessions() as session:
        assert users.find_user(session, "user000").alias == "Customer's alias"
