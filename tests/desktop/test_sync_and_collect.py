"""The desktop's sync wiring against a real waitress portal, and "Collect usage" against a
node that does not answer: pairing shows "paired", Sync now (Ctrl+Shift+S) publishes a
user created in the app, a dead node fails on its own row while the GUI keeps painting."""

from __future__ import annotations

import socket

import requests
from PySide6.QtCore import Qt, QTimer
from sqlalchemy import select

from tests.fixtures.portal import LiveServer
from tests.fixtures.qt import save_screenshot
from vpanel_core.models import Subscription, User
from vpanel_core.services import nodes
from vpanel_core.services.users import NewUser, create_user
from vpanel_core.sync.portal_side import PortalSync
from vpanel_desktop.screens.nodes import NodesScreen
from vpanel_desktop.screens.settings import SettingsScreen
from vpanel_desktop.workers import FAILED

FAKE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAfake\n-----END OPENSSH PRIVATE KEY-----"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
            session, nodes.NewNode(name="down-1", host="127.0.0.1", ssh_port=closed_port())
        )
        node.host_key = HOST_KEY
        node.ssh_key_ref = desktop_ctx.box.seal(FAKE_KEY)
    screen = NodesScreen(desktop_ctx)
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
