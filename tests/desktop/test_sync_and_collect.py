"""The desktop's sync wiring against a real waitress portal, and usage collection against
real and dead nodes: pairing shows "paired", Sync now (Ctrl+Shift+S) publishes a user
created in the app, a dead node fails on its own row while the GUI keeps painting and the
live nodes are collected in one round, and the main window collects on its own and says
so in the status bar."""

from __future__ import annotations

import uuid
from pathlib import Path

import requests
from PySide6.QtCore import Qt, QTimer
from sqlalchemy import func, select

from tests.accounting.helpers import install_journal_helper
from tests.fixtures.portal import LiveServer
from tests.fixtures.ports import free_port
from tests.fixtures.qt import save_screenshot
from tests.fixtures.sshd import Fleet
from vpanel_core.models import Node, Subscription, UsageTotal, User
from vpanel_core.services import nodes
from vpanel_core.services.users import NewUser, create_user
from vpanel_core.sync.portal_side import PortalSync
from vpanel_core.timeutil import utcnow
from vpanel_desktop.context import AppContext
from vpanel_desktop.formatting import human_bytes
from vpanel_desktop.mainwindow import MainWindow
from vpanel_desktop.screens.nodes import NodesScreen
from vpanel_desktop.screens.settings import SettingsScreen
from vpanel_desktop.screens.users import COLUMNS, UsersScreen
from vpanel_desktop.services.usage_service import UsageService
from vpanel_desktop.workers import FAILED, OK
from vpanel_node.journal import Journal, read_ack

FAKE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAfake\n-----END OPENSSH PRIVATE KEY-----"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
NAMES = ("edge-1", "edge-2", "edge-down")
USED = 2 * 1210  # frank on the two live nodes


def nodes_screen(ctx: AppContext) -> NodesScreen:
    """The Nodes screen outside the main window, collecting through a service of its own."""
    ctx.usage = UsageService(ctx)
    return NodesScreen(ctx)


def journal_fleet(
    ctx: AppContext, sshd_factory, ssh_client_key
) -> tuple[Fleet, dict[str, uuid.UUID]]:
    """Nodes edge-1, edge-2 and edge-down (dead), keys sealed as the app stores them, each
    journal holding 1,210 bytes of user frank."""
    fleet = Fleet(ctx.database, sshd_factory, ssh_client_key)
    user = str(fleet.add_user("frank"))
    now = int(utcnow().timestamp() * 1000)
    node_ids = {name: fleet.add_node(name, bootstrap=False) for name in NAMES}
    for node_id in node_ids.values():
        with ctx.write() as session:
            node = session.get(Node, node_id)
            assert node is not None
            node.ssh_key_ref = ctx.box.seal(ssh_client_key.read_text())
        journal = Journal(install_journal_helper(fleet.sshd[node_id].remote_dir)).open()
        journal.append([(user, 100, 1000, now - 9, now - 5), (user, 10, 100, now - 4, now)], {}, [])
    fleet.sshd[node_ids["edge-down"]].drop()
    return fleet, node_ids


def pairing_code(portal: LiveServer) -> str:
    sync: PortalSync = portal.app.extensions["vpanel_sync"]
    return sync.issue_pairing_code()


def test_pair_then_sync_now_publishes_a_desktop_user(live_portal, main_window, qtbot) -> None:
    # live_portal first: it is torn down after the window closed its connection.
    screen = main_window.show_screen(SettingsScreen)
    assert "Not paired" in screen.sync_state.text()
    screen.sync_url.setText(live_portal.url)
    screen.sync_code.setText(pairing_code(live_portal))
    qtbot.mouseClick(screen.pair_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "paired with" in screen.sync_state.text(), timeout=20_000)
    assert live_portal.url in screen.sync_state.text()

    with main_window.ctx.write() as session:
        user_id = create_user(session, NewUser(username="erin", days=30, traffic_bytes=1 << 30)).id
    main_window.actions_by_name["sync_now"].trigger()
    dialog = main_window.last_sync_job
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)
    assert "1 succeeded" in dialog.summary.text(), dialog.model.rows
    qtbot.waitUntil(lambda: "Sync: ok" in main_window.statusBar().currentMessage(), timeout=10_000)

    database = live_portal.app.extensions["vpanel"].database
    with database.sessions() as session:
        assert session.get(User, user_id) is not None
        token = session.scalar(select(Subscription.token).where(Subscription.user_id == user_id))
    answer = requests.get(f"{live_portal.url}/api/subscription/{token}", timeout=10)
    assert answer.status_code == 200
    save_screenshot(screen, "sync-paired")
    dialog.accept()


def test_collect_usage_from_unreachable_node_fails_per_node_and_gui_stays_live(
    desktop_ctx, qtbot
) -> None:
    with desktop_ctx.write() as session:
        node = nodes.create_node(
            session, nodes.NewNode(name="down-1", host="127.0.0.1", ssh_port=free_port())
        )
        node.host_key = HOST_KEY
        node.ssh_key_ref = desktop_ctx.box.seal(FAKE_KEY)
    screen = nodes_screen(desktop_ctx)
    qtbot.addWidget(screen)
    screen.show()
    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(5)
    dialog = screen.collect_usage()
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)
    timer.stop()
    assert ticks
    state, message = dialog.model.state("down-1")
    assert state == FAILED and message
    assert "0 succeeded, 1 failed" in dialog.summary.text()
    dialog.accept()


def test_collect_usage_collects_live_nodes_in_one_round_and_fails_the_dead_one_alone(
    desktop_ctx, qtbot, sshd_factory, ssh_client_key
) -> None:
    fleet, node_ids = journal_fleet(desktop_ctx, sshd_factory, ssh_client_key)
    screen = nodes_screen(desktop_ctx)
    qtbot.addWidget(screen)

    dialog = screen.collect_usage()
    assert dialog is not None
    qtbot.waitUntil(lambda: not dialog.running, timeout=60_000)

    assert "2 succeeded, 1 failed" in dialog.summary.text(), dialog.model.rows
    for name in ("edge-1", "edge-2"):
        state, message = dialog.model.state(name)
        assert state == OK and "2 records applied" in message and "entitlements" in message
        assert read_ack(Path(fleet.sshd[node_ids[name]].remote_dir) / "usage") == 2
    assert dialog.model.state("edge-down")[0] == FAILED
    with desktop_ctx.read() as session:
        assert session.scalar(select(func.sum(UsageTotal.downlink))) == 2 * 1100
    dialog.accept()


def test_the_main_window_collects_usage_on_its_own_and_says_so_in_the_status_bar(
    desktop_ctx, qtbot, sshd_factory, ssh_client_key
) -> None:
    fleet, node_ids = journal_fleet(desktop_ctx, sshd_factory, ssh_client_key)
    window = MainWindow(desktop_ctx)  # the first automatic run starts with the window
    qtbot.addWidget(window)
    seen: list[tuple[str, bool]] = []
    window.usage.status_changed.connect(
        lambda _s: seen.append((window.usage_state.text(), window.usage_progress.isVisible()))
    )
    window.show()
    users = window.show_screen(UsersScreen)
    assert isinstance(users, UsersScreen)
    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(5)

    qtbot.waitUntil(lambda: "2 ok, 1 failed" in window.usage_state.text(), timeout=60_000)
    timer.stop()

    line = window.usage_state.text()
    assert line.startswith("Usage: collected ") and " · next " in line
    assert any(text.endswith("/3 nodes") and bar for text, bar in seen)  # progress as it ran
    assert not window.usage_progress.isVisible() and ticks  # the GUI kept painting
    for name in ("edge-1", "edge-2"):
        assert read_ack(Path(fleet.sshd[node_ids[name]].remote_dir) / "usage") == 2
    used = COLUMNS.index("used")
    qtbot.waitUntil(lambda: users.model.index(0, used).data() == human_bytes(USED))  # no F5
