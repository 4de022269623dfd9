"""Settings: portal URL, SMTP, payments, time zone, language.

Secret fields are write-only: they show whether a value is stored, never the value,
and are sealed with the master key before they reach the database.
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout

from vpanel_core import settings
from vpanel_core.errors import DomainError
from vpanel_core.services import secret_settings
from vpanel_desktop import i18n
from vpanel_desktop.context import AppContext
from vpanel_desktop.i18n import translator
from vpanel_desktop.screens.base import Screen

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
        layout.addStretch()
        self.retranslate_ui()
        self.refresh()

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
        self.language.setCurrentIndex(max(0, self.language.findData(lang)))

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
