"""Settings: portal URL, SMTP, payments, time zone, language, how often usage is collected,
and pairing with a portal.

Secret fields are write-only: they show whether a value is stored, never the value,
and are sealed with the master key before they reach the database.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from vpanel_core import settings
from vpanel_core.errors import DomainError
from vpanel_core.services import secret_settings
from vpanel_core.sync.loop import SyncStatus
from vpanel_core.usage.auto import SETTING as COLLECT_MINUTES
from vpanel_desktop import i18n
from vpanel_desktop.context import AppContext
from vpanel_desktop.i18n import translator
from vpanel_desktop.screens.base import Screen
from vpanel_desktop.services.sync_service import describe
from vpanel_desktop.workers import run_in_background

tr = translator("Settings")
PLAIN = (
    "portal_url",
    "smtp_host",
    "smtp_port",
    "smtp_user",
    "smtp_from",
    "usdt_address",
    "timezone",
)


class SettingsScreen(Screen):
    topics = ("settings",)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.setObjectName("settingsScreen")
        self.form = QFormLayout()
        self.fields: dict[str, QLineEdit] = {}
        self.captions: dict[str, QLabel] = {}
        for key in (*PLAIN, *secret_settings.SECRET_KEYS):
            field = QLineEdit()
            field.setObjectName(key)
            if key in secret_settings.SECRET_KEYS:
                field.setEchoMode(QLineEdit.EchoMode.Password)
            self.fields[key] = field
            self.captions[key] = QLabel()
            self.form.addRow(self.captions[key], field)
        self.language = QComboBox()
        for code, name in i18n.LANGUAGES.items():
            self.language.addItem(name, code)
        self.language_caption = QLabel()
        self.form.addRow(self.language_caption, self.language)
        self.collect_minutes = QSpinBox()
        self.collect_minutes.setObjectName(COLLECT_MINUTES)
        self.collect_minutes.setRange(0, settings.MAX_COLLECT_MINUTES)
        self.collect_caption = QLabel()
        self.form.addRow(self.collect_caption, self.collect_minutes)
        self.key_info = QLabel()
        self.key_info.setWordWrap(True)
        self.message = QLabel()
        self.message.setObjectName("settingsMessage")
        self.message.setWordWrap(True)
        self.save_button = QPushButton()
        self.save_button.clicked.connect(self.save)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.key_info)
        layout.addWidget(self.message)
        layout.addWidget(self.save_button)
        layout.addWidget(self._sync_box())
        layout.addStretch()
        self.retranslate_ui()
        self.refresh()
        if ctx.sync is not None:
            ctx.sync.status_changed.connect(self._on_sync_status)

    def _sync_box(self) -> QGroupBox:
        """Pair with a portal (URL + the one-time code it shows), see state, sync now."""
        self.sync_group = QGroupBox()
        self.sync_url = QLineEdit()
        self.sync_url.setObjectName("syncPortalUrl")
        self.sync_code = QLineEdit()
        self.sync_code.setObjectName("syncCode")
        self.sync_code.setPlaceholderText("XXXX-XXXX-XXXX")
        self.pair_button = QPushButton()
        self.pair_button.setObjectName("syncPair")
        self.pair_button.clicked.connect(self.pair)
        self.sync_now_button = QPushButton()
        self.sync_now_button.setObjectName("syncNow")
        self.sync_now_button.clicked.connect(self._sync_now)
        self.sync_state = QLabel()
        self.sync_state.setObjectName("syncState")
        self.sync_state.setWordWrap(True)
        self.sync_detail = QLabel()
        self.sync_detail.setWordWrap(True)
        self.sync_url_caption, self.sync_code_caption = QLabel(), QLabel()
        form = QFormLayout(self.sync_group)
        form.addRow(self.sync_url_caption, self.sync_url)
        form.addRow(self.sync_code_caption, self.sync_code)
        buttons = QHBoxLayout()
        buttons.addWidget(self.pair_button)
        buttons.addWidget(self.sync_now_button)
        buttons.addStretch()
        form.addRow(buttons)
        form.addRow(self.sync_state)
        form.addRow(self.sync_detail)
        self.sync_group.setEnabled(self.ctx.sync is not None)
        return self.sync_group

    def pair(self) -> None:
        service = self.ctx.sync
        if service is None:
            return
        url, code = self.sync_url.text(), self.sync_code.text()
        self.pair_button.setEnabled(False)
        self.sync_state.setText(tr("Pairing…"))

        def done(_key: object) -> None:
            self.pair_button.setEnabled(True)
            self.sync_code.clear()
            self._show_pairing()

        def failed(message: str) -> None:
            self.pair_button.setEnabled(True)
            self.sync_state.setText(tr("Not paired: {message}").format(message=message))

        run_in_background(lambda: service.pair(url, code), done, failed)

    def _sync_now(self) -> None:
        if self.ctx.sync is not None:
            self.ctx.sync.sync_now(self)

    def _show_pairing(self) -> None:
        service = self.ctx.sync
        peer = service.client.peer_url() if service is not None else None
        if peer is None:
            self.sync_state.setText(tr("Not paired with a portal."))
        else:
            self.sync_url.setText(peer)
            self.sync_state.setText(tr("Portal: paired with {url}").format(url=peer))

    def _on_sync_status(self, status: SyncStatus) -> None:
        self.sync_detail.setText(describe(status))

    def title(self) -> str:
        return tr("Settings")

    def retranslate_ui(self) -> None:
        names = {
            "portal_url": tr("Portal URL"),
            "smtp_host": tr("SMTP host"),
            "smtp_port": tr("SMTP port"),
            "smtp_user": tr("SMTP user"),
            "smtp_from": tr("Sender address"),
            "smtp_password": tr("SMTP password"),
            "usdt_address": tr("USDT (TRC-20) address"),
            "timezone": tr("Time zone"),
            "stripe_secret_key": tr("Stripe secret key"),
            "stripe_webhook_secret": tr("Stripe webhook secret"),
            "trongrid_api_key": tr("TronGrid API key"),
            "sync_key": tr("Sync key"),
        }
        for key, caption in self.captions.items():
            caption.setText(names[key])
        self.language_caption.setText(tr("Language"))
        self.collect_caption.setText(tr("Collect usage every"))
        self.collect_minutes.setSuffix(tr(" min"))
        self.collect_minutes.setSpecialValueText(tr("never (only when asked)"))
        self.sync_group.setTitle(tr("Portal sync"))
        self.sync_url_caption.setText(tr("Portal address"))
        self.sync_code_caption.setText(tr("One-time code"))
        self.pair_button.setText(tr("Pair"))
        self.sync_now_button.setText(tr("Sync now"))
        self.save_button.setText(tr("Save"))
        self.key_info.setText(
            tr("Secrets are encrypted; the master key is kept in: {where}").format(
                where=self.ctx.box.key_location
            )
        )

    def refresh(self) -> None:
        with self.ctx.read() as session:
            for key in PLAIN:
                value = settings.get(session, key)
                self.fields[key].setText("" if value is None else str(value))
            for key in secret_settings.SECRET_KEYS:
                field = self.fields[key]
                field.clear()
                field.setPlaceholderText(
                    tr("stored — type to replace")
                    if secret_settings.is_set(session, key)
                    else tr("not set")
                )
            lang = i18n.normalize(str(settings.get(session, "language")))
            self.collect_minutes.setValue(int(settings.get(session, COLLECT_MINUTES)))
        self.language.setCurrentIndex(max(0, self.language.findData(lang)))
        self._show_pairing()

    def save(self) -> bool:
        """All fields in one transaction: an invalid time zone saves nothing."""
        try:
            with self.ctx.write() as session:
                for key in PLAIN:
                    text = self.fields[key].text().strip()
                    value: object = int(text) if key == "smtp_port" and text.isdigit() else text
                    settings.put(session, key, value)
                for key in secret_settings.SECRET_KEYS:
                    text = self.fields[key].text()
                    if text:
                        secret_settings.put(session, self.ctx.box, key, text)
                settings.put(session, "language", self.language.currentData())
                settings.put(session, COLLECT_MINUTES, self.collect_minutes.value())
        except DomainError as exc:
            self.message.setStyleSheet("color: #c0392b;")
            self.message.setText(exc.message)
            return False
        self.message.setStyleSheet("")
        self.message.setText(tr("Saved."))
        i18n.set_language(self.language.currentData())
        self.ctx.bus.changed.emit("settings")
        self.refresh()
        return True
