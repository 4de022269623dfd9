"""Nodes screen: inbound validation, sealed SSH keys, push progress to unreachable nodes."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from sqlalchemy import func, select

from tests.fixtures.ports import free_port
from tests.fixtures.qt import save_screenshot
from vpanel_core.models import Inbound, Node
from vpanel_core.nodes.inbound_secrets import NewInbound
from vpanel_core.services import nodes
from vpanel_desktop.screens.nodes import NodesScreen
from vpanel_desktop.services import node_ops
from vpanel_desktop.workers import FAILED

FAKE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAsecretmaterial\n-----END OPENSSH PRIVATE KEY-----"
)


def make_screen(ctx, qtbot) -> NodesScreen:
    screen = NodesScreen(ctx)
    qtbot.addWidget(screen)
    screen.resize(1000, 500)
    screen.show()
    return screen


def test_added_node_stores_ssh_key_encrypted_and_asks_to_pin_host_key(
    desktop_ctx, qtbot, monkeypatch
):
    port = free_port()
    screen = make_screen(desktop_ctx, qtbot)
    messages: list[str] = []
    desktop_ctx.bus.status_message.connect(messages.append)
    dialog = screen.add_node()
    dialog.name.setText("tokyo-1")
    dialog.host.setText("127.0.0.1")
    dialog.ssh_port.setText(str(port))
    dialog.key.setPlainText(FAKE_KEY)
    dialog.submit()
    assert dialog.error.isHidden()
    with desktop_ctx.read() as session:
        stored = session.scalars(select(Node.ssh_key_ref)).one()
    assert stored.startswith("enc:v1:") and "secretmaterial" not in stored
    assert desktop_ctx.box.open(stored) == FAKE_KEY
    qtbot.waitUntil(lambda: any("host key" in m for m in messages), timeout=15_000)
    assert screen.model.rows[0].name == "tokyo-1"


def test_inbound_port_clash_shows_inline_message_and_saves_nothing(desktop_ctx, qtbot):
    with desktop_ctx.write() as session:
        node = nodes.create_node(session, nodes.NewNode(name="n1", host="203.0.113.5"))
        nodes.add_inbound(
            session,
            node,
            NewInbound(
                tag="vless",
                protocol="vless",
                listen_port=443,
                tls_mode="reality",
                sni="www.apple.com",
            ),
        )
    screen = make_screen(desktop_ctx, qtbot)
    screen.table.selectRow(0)
    dialog = screen.edit_inbounds()
    assert dialog is not None
    assert "pbk=" in dialog.existing.toPlainText()
    dialog.tag.setText("trojan")
    dialog.protocol.setCurrentText("trojan")
    dialog.port.setText("443")
    dialog.submit()
    assert dialog.isVisible()
    assert "already used" in dialog.error.text()
    with desktop_ctx.read() as session:
        assert session.scalar(select(func.count()).select_from(Inbound)) == 1
    dialog.port.setText("8443")
    dialog.submit()
    assert not dialog.isVisible()
    with desktop_ctx.read() as session:
        assert session.scalar(select(func.count()).select_from(Inbound)) == 2
    save_screenshot(screen, "nodes")


def test_push_to_unreachable_nodes_reports_failure_per_node_and_gui_stays_live(desktop_ctx, qtbot):
    with desktop_ctx.write() as session:
        for name in ("down-a", "down-b"):
            node = nodes.create_node(
                session, nodes.NewNode(name=name, host="127.0.0.1", ssh_port=free_port())
            )
            node.host_key = (
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
            )
            node.ssh_key_ref = desktop_ctx.box.seal(FAKE_KEY)
    screen = make_screen(desktop_ctx, qtbot)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(5)
    dialog = screen.push_all()
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)
    timer.stop()
    assert len(ticks) > 0
    for name in ("down-a", "down-b"):
        state, message = dialog.model.state(name)
        assert state == FAILED
        assert message
    assert "0 succeeded, 2 failed" in dialog.summary.text()
    save_screenshot(dialog, "push-progress")
    qtbot.waitUntil(lambda: screen.model.rows[0].result.startswith("failed at connect"))
    dialog.accept()


def test_cancel_skips_nodes_not_started(desktop_ctx, qtbot, monkeypatch):
    import threading

    gate = threading.Event()

    def slow(name):
        gate.wait(5)
        return True, "ok"

    monkeypatch.setattr(node_ops, "PARALLEL", 1)
    screen = make_screen(desktop_ctx, qtbot)
    names = [f"n{i}" for i in range(3)]

    def job(report, cancel):
        return node_ops.run_each(names, str, slow, report, cancel)

    dialog = screen._run("status", names, job)
    assert dialog is not None
    dialog.cancel()
    gate.set()
    qtbot.waitUntil(lambda: not dialog.running, timeout=10_000)
    assert dialog.results is not None and len(dialog.results) < 3
    states = [dialog.model.state(f"n{i}")[0] for i in range(3)]
    assert "cancelled" in states


def test_status_of_unreachable_node_is_reported_as_failed(desktop_ctx, qtbot):
    with desktop_ctx.write() as session:
        node = nodes.create_node(
            session, nodes.NewNode(name="gone", host="127.0.0.1", ssh_port=free_port())
        )
        node.host_key = (
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
        )
        node.ssh_key_ref = desktop_ctx.box.seal(FAKE_KEY)
    screen = make_screen(desktop_ctx, qtbot)
    dialog = screen.check_status()
    assert dialog is not None
    qtbot.waitUntil(lambda: not dialog.running, timeout=30_000)
    state, message = dialog.model.state("gone")
    assert state == FAILED and message
