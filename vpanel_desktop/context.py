"""What every screen needs: the database, the secret box, and a change bus."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from PySide6.QtCore import QObject, Signal
from sqlalchemy.orm import Session

from vpanel_core import settings
from vpanel_core.db import transaction
from vpanel_core.runtime import Database
from vpanel_core.secretbox import SecretBox

if TYPE_CHECKING:
    from vpanel_desktop.services.sync_service import SyncService
    from vpanel_desktop.services.usage_service import UsageService


class ChangeBus(QObject):
    """Screens announce what they changed ("users", "plans", "nodes", "orders", "settings",
    "usage") so other screens refresh without knowing each other."""

    changed = Signal(str)
    status_message = Signal(str)


@dataclass
class AppContext:
    database: Database
    box: SecretBox
    portal_url: str = ""
    bus: ChangeBus = field(default_factory=ChangeBus)
    sync: SyncService | None = None  # set by the main window while the app runs
    usage: UsageService | None = None  # likewise: every usage collection goes through it

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One desktop action = one transaction: all of it is saved, or none."""
        with transaction(self.database.sessions) as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.database.sessions() as session:
            yield session

    def zone(self) -> ZoneInfo:
        with self.read() as session:
            return settings.operator_zone(session)
