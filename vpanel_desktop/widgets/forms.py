"""Dialogs that validate inline: a domain error is shown under the form, not in a popup,
and the dialog stays open with what the operator typed."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from vpanel_core.errors import DomainError, ValidationError
from vpanel_core.validation import parse_size
from vpanel_desktop.i18n import translator

log = logging.getLogger(__name__)
tr = translator("Forms")


class FormDialog(QDialog):
    """A form plus an error label; `save` runs on OK and raises DomainError to refuse."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.form = QFormLayout()
        self.error = QLabel()
        self.error.setObjectName("formError")
        self.error.setStyleSheet("color: #c0392b;")
        self.error.setWordWrap(True)
        self.error.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.save: Callable[[], None] = lambda: None

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    def submit(self) -> None:
        try:
            self.save()
        except DomainError as exc:
            self.show_error(exc.message)
            return
        self.error.hide()
        self.accept()


def parse_number(text: str, what: str) -> float:
    try:
        value = float(text.strip() or "0")
    except ValueError:
        raise ValidationError(tr("{what} must be a number").format(what=what)) from None
    if value < 0:
        raise ValidationError(tr("{what} must not be negative").format(what=what))
    return value


def parse_int(text: str, what: str) -> int:
    value = parse_number(text, what)
    if value != int(value):
        raise ValidationError(tr("{what} must be a whole number").format(what=what))
    return int(value)


def parse_traffic(text: str) -> int:
    """'50GB' → bytes; a minus sign gets a message that says so."""
    if text.strip().startswith("-"):
        raise ValidationError(tr("traffic must not be negative"))
    return parse_size(text or "0")


def confirm(parent: QWidget | None, title: str, question: str) -> bool:
    """Yes/No question; one function so tests can answer it."""
    answer = QMessageBox.question(parent, title, question)
    return answer == QMessageBox.StandardButton.Yes


def report_error(parent: QWidget | None, exc: DomainError) -> None:
    log.info("action refused: %s", exc.code)
    QMessageBox.warning(parent, tr("Not done"), exc.message)
