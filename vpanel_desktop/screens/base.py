"""What every screen shares: the app context, refresh, search focus, live retranslation."""

from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QWidget

from vpanel_desktop.context import AppContext


class Screen(QWidget):
    #: Which ChangeBus topics make this screen reload.
    topics: tuple[str, ...] = ()

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        ctx.bus.changed.connect(self._on_changed)

    def title(self) -> str:
        raise NotImplementedError

    def refresh(self) -> None:
        """Reload from the database (F5)."""

    def focus_search(self) -> None:
        """Put the cursor in this screen's search box (Ctrl+F), if it has one."""

    def retranslate_ui(self) -> None:
        """Re-read every visible label after a language switch."""

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate_ui()
        super().changeEvent(event)

    def _on_changed(self, topic: str) -> None:
        if topic in self.topics:
            self.refresh()
