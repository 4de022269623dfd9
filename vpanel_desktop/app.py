"""Build the running app: database, secret box, context, translations, main window."""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QApplication

from vpanel_core import config, secretbox, settings
from vpanel_core.runtime import Database, open_database
from vpanel_desktop import i18n
from vpanel_desktop.context import AppContext
from vpanel_desktop.mainwindow import MainWindow
from vpanel_desktop.screens.activity import SESSION_LOG


def make_context(database: Database | None = None, *, use_keyring: bool = True) -> AppContext:
    database = database or open_database(config.database_url())
    box = secretbox.load(config.data_dir(), use_keyring=use_keyring)
    return AppContext(database=database, box=box)


def install_logging() -> None:
    root = logging.getLogger()
    if SESSION_LOG not in root.handlers:
        root.addHandler(SESSION_LOG)
        root.setLevel(logging.INFO)


def start_ui(app: QApplication, ctx: AppContext, lang: str | None) -> MainWindow:
    """Language: the command line wins, else the stored setting."""
    install_logging()
    if lang is None:
        with ctx.read() as session:
            lang = str(settings.get(session, "language"))
    i18n.set_language(i18n.normalize(lang))
    app.setApplicationName("vpanel")
    return MainWindow(ctx)
