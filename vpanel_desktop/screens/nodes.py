"""Nodes: list, add (pinning the SSH host key the operator confirms), inbounds with
generated keys, push and status per node with progress."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from vpanel_core.db import transaction
from vpanel_core.errors import DomainError
from vpanel_core.models import Node
from vpanel_core.nodes.inbound_secrets import NewInbound
from vpanel_core.nodes.ssh import HostKey, fetch_host_key, pin_host_key
from vpanel_core.proxies import Protocol, Transport
from vpanel_core.services import nodes
from vpanel_desktop.context import AppContext
from vpanel_desktop.formatting import local_time
from vpanel_desktop.i18n import translator
from vpanel_desktop.screens.base import Screen
from vpanel_desktop.screens.tables import RowsModel
from vpanel_desktop.services import node_ops
from vpanel_desktop.widgets.forms import FormDialog, parse_int, report_error
from vpanel_desktop.workers import ItemResult, ProgressDialog, run_in_background, run_job

tr = translator("Nodes")


@dataclass(frozen=True, slots=True)
class NodeRow:
    id: uuid.UUID
    name: str
    host: str
    group: str
    enabled: bool
    inbounds: str
    last_push: str
    result: str


def node_headers() -> tuple[str, ...]:
    return (
        tr("Name"),
        tr("Host"),
        tr("Group"),
        tr("Enabled"),
        tr("Inbounds"),
        tr("Last push"),
        tr("Last result"),
    )


def node_cells(row: NodeRow) -> tuple[Any, ...]:
    return (
        row.name,
        row.host,
        row.group,
        tr("yes") if row.enabled else tr("no"),
        row.inbounds,
        row.last_push,
        row.result,
    )


class NodeDialog(FormDialog):
    """Name, address and SSH access; the key is stored sealed, the host key pinned."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(tr("Add node"), parent)
        self.name = QLineEdit()
        self.name.setObjectName("name")
        self.host = QLineEdit()
        self.host.setObjectName("host")
        self.ssh_port = QLineEdit("22")
        self.ssh_port.setObjectName("ssh_port")
        self.ssh_user = QLineEdit("root")
        self.group = QLineEdit("default")
        self.country = QLineEdit()
        self.key = QPlainTextEdit()
        self.key.setObjectName("ssh_key")
        self.key.setPlaceholderText(tr("paste the private key, or give a path to it"))
        self.key.setFixedHeight(80)
        self.form.addRow(tr("Name"), self.name)
        self.form.addRow(tr("Host"), self.host)
        self.form.addRow(tr("SSH port"), self.ssh_port)
        self.form.addRow(tr("SSH user"), self.ssh_user)
        self.form.addRow(tr("Group"), self.group)
        self.form.addRow(tr("Country"), self.country)
        self.form.addRow(tr("SSH key"), self.key)


class InboundDialog(FormDialog):
    """Add one inbound; its keys (REALITY, SS2022 PSK, certificate) are generated."""

    def __init__(self, parent: QWidget, node_name: str) -> None:
        super().__init__(tr("Inbounds of {node}").format(node=node_name), parent)
        self.existing = QPlainTextEdit()
        self.existing.setReadOnly(True)
        self.existing.setObjectName("existingInbounds")
        self.tag = QLineEdit()
        self.tag.setObjectName("tag")
        self.protocol = QComboBox()
        self.protocol.addItems([p.value for p in Protocol])
        self.port = QLineEdit("443")
        self.port.setObjectName("port")
        self.transport = QComboBox()
        self.transport.addItems([t.value for t in Transport])
        self.tls = QComboBox()
        self.tls.addItems(["", "tls", "reality", "none"])
        self.sni = QLineEdit()
        self.form.addRow(tr("Existing"), self.existing)
        self.form.addRow(tr("Tag"), self.tag)
        self.form.addRow(tr("Protocol"), self.protocol)
        self.form.addRow(tr("Listen port"), self.port)
        self.form.addRow(tr("Transport"), self.transport)
        self.form.addRow(tr("TLS (empty = default)"), self.tls)
        self.form.addRow(tr("SNI / REALITY site"), self.sni)

    def spec(self) -> NewInbound:
        return NewInbound(
            tag=self.tag.text().strip(),
            protocol=self.protocol.currentText(),
            listen_port=parse_int(self.port.text(), tr("port")),
            transport=self.transport.currentText(),
            tls_mode=self.tls.currentText(),
            sni=self.sni.text().strip(),
        )


def confirm_host_key(parent: QWidget, host: str, key: HostKey) -> bool:
    """Trust on first use: the operator compares the fingerprint with the server's."""
    answer = QMessageBox.question(
        parent,
        tr("Confirm host key"),
        tr(
            "{host} presented a {type} host key with fingerprint\n\n{fp}\n\n"
            "Compare it with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the server. Trust it?"
        ).format(host=host, type=key.key_type, fp=key.fingerprint),
    )
    return answer == QMessageBox.StandardButton.Yes


class NodesScreen(Screen):
    topics = ("nodes",)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.setObjectName("nodesScreen")
        self.model = RowsModel(node_headers, self, cells=node_cells)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.last_job: ProgressDialog | None = None
        self.buttons: dict[str, QPushButton] = {}
        bar = QHBoxLayout()
        for key, slot in {
            "add": self.add_node,
            "inbounds": self.edit_inbounds,
            "push": self.push_all,
            "status": self.check_status,
            "collect": self.collect_usage,
        }.items():
            button = QPushButton()
            button.setObjectName(f"node_{key}")
            button.clicked.connect(slot)
            self.buttons[key] = button
            bar.addWidget(button)
        bar.addStretch()
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.table)
        self.retranslate_ui()
        self.refresh()

    def title(self) -> str:
        return tr("Nodes")

    def retranslate_ui(self) -> None:
        labels = {
            "add": tr("Add node…"),
            "inbounds": tr("Inbounds…"),
            "push": tr("Push config"),
            "status": tr("Check status"),
            "collect": tr("Collect usage"),
        }
        for key, text in labels.items():
            self.buttons[key].setText(text)
        self.model.retranslate()

    def refresh(self) -> None:
        with self.ctx.read() as session:
            tz = self.ctx.zone()
            rows = [
                NodeRow(
                    n.id,
                    n.name,
                    f"{n.host}:{n.ssh_port}",
                    n.group,
                    n.enabled,
                    ", ".join(f"{i.tag}/{i.protocol}:{i.listen_port}" for i in n.inbounds),
                    local_time(n.last_push_at, tz),
                    node_ops.describe_last_push(n.last_push_result),
                )
                for n in nodes.list_nodes(session)
            ]
        self.model.set_rows(rows)

    def selected_id(self) -> uuid.UUID | None:
        index = self.table.currentIndex()
        return self.model.rows[index.row()].id if index.isValid() else None

    def add_node(self) -> NodeDialog:
        dialog = NodeDialog(self)

        def save() -> None:
            spec = nodes.NewNode(
                name=dialog.name.text(),
                host=dialog.host.text(),
                ssh_port=parse_int(dialog.ssh_port.text(), tr("SSH port")),
                ssh_user=dialog.ssh_user.text().strip() or "root",
                group=dialog.group.text().strip() or "default",
                country=dialog.country.text(),
            )
            key = dialog.key.toPlainText().strip()
            with self.ctx.write() as session:
                node = nodes.create_node(session, spec)
                node.ssh_key_ref = self.ctx.box.seal(key) if "PRIVATE KEY" in key else key
                created.append(node.id)

        created: list[uuid.UUID] = []
        dialog.save = save
        dialog.accepted.connect(lambda: self._fetch_host_key(created[0]))
        dialog.open()
        return dialog

    def _fetch_host_key(self, node_id: uuid.UUID) -> None:
        """Ask the new node for its host key off the GUI thread, then let the operator pin it."""
        self.ctx.bus.changed.emit("nodes")
        with self.ctx.read() as session:
            node = session.get(Node, node_id)
            if node is None:
                return
            host, port = node.host, node.ssh_port

        def pin(key: HostKey) -> None:
            if not confirm_host_key(self, host, key):
                return
            with self.ctx.write() as session:
                target = session.get(Node, node_id)
                if target is not None:
                    pin_host_key(target, key)
            self.ctx.bus.status_message.emit(tr("Pinned host key {fp}").format(fp=key.fingerprint))

        def failed(message: str) -> None:
            self.ctx.bus.status_message.emit(
                tr("Could not fetch the host key yet: {message}").format(message=message)
            )

        run_in_background(lambda: fetch_host_key(host, port, timeout=10), pin, failed)

    def edit_inbounds(self) -> InboundDialog | None:
        node_id = self.selected_id()
        if node_id is None:
            return None
        with self.ctx.read() as session:
            node = nodes.find_node(session, str(node_id))
            dialog = InboundDialog(self, node.name)
            dialog.existing.setPlainText(
                "\n".join(
                    f"{i.tag}  {i.protocol}/{i.transport}  :{i.listen_port}  {i.tls_mode}"
                    + (
                        f"  pbk={i.settings['reality_public_key']}"
                        if i.tls_mode == "reality"
                        else ""
                    )
                    for i in node.inbounds
                )
            )

        def save() -> None:
            spec = dialog.spec()
            with self.ctx.write() as session:
                nodes.add_inbound(session, nodes.find_node(session, str(node_id)), spec)

        dialog.save = save
        dialog.accepted.connect(lambda: self.ctx.bus.changed.emit("nodes"))
        dialog.open()
        return dialog

    def _run(self, title: str, items: list[str], job: Any) -> ProgressDialog | None:
        if not items:
            self.ctx.bus.status_message.emit(tr("No enabled nodes."))
            return None
        dialog = run_job(self, title, items, job)
        dialog.job_finished.connect(self._summarise)
        self.last_job = dialog
        return dialog

    def _summarise(self, results: list[ItemResult]) -> None:
        failed = sum(1 for r in results if not r.ok)
        self.ctx.bus.status_message.emit(
            tr("Nodes: {ok} ok, {failed} failing").format(ok=len(results) - failed, failed=failed)
        )
        self.ctx.bus.changed.emit("nodes")

    def push_all(self) -> ProgressDialog | None:
        """Render every enabled node's config now, push them in the background."""
        try:
            with self.ctx.read() as session:
                jobs = node_ops.push_jobs(session, self.ctx.box, [r.id for r in self.model.rows])
        except DomainError as exc:
            report_error(self, exc)
            return None
        database = self.ctx.database

        def job(report: Any, cancel: Any) -> list[ItemResult]:
            shown, raw = node_ops.push(jobs, report, cancel)
            with transaction(database.sessions) as session:
                node_ops.record_push(session, raw)
            return shown

        return self._run(tr("Push config to nodes"), [j.node_name for j in jobs], job)

    def check_status(self) -> ProgressDialog | None:
        try:
            with self.ctx.read() as session:
                found = node_ops.status_nodes(
                    session, self.ctx.box, [r.id for r in self.model.rows]
                )
        except DomainError as exc:
            report_error(self, exc)
            return None

        def job(report: Any, cancel: Any) -> list[ItemResult]:
            return node_ops.check_status(found, report, cancel)

        return self._run(tr("Node status"), [n.name for n in found], job)

    def collect_usage(self) -> ProgressDialog | None:
        """Collect every node's usage journal, then push it fresh entitlements; joins the
        automatic collection if one is under way, and restarts its timer."""
        service = self.ctx.usage
        if service is None:  # a screen outside the main window
            return None
        collector = service.collector

        def job(report: Any, cancel: Any) -> list[ItemResult]:
            return node_ops.collect(collector, report, cancel)

        names = [row.name for row in self.model.rows if row.enabled]
        return self._run(tr("Collect usage"), names, job)
