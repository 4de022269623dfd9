"""Per-app services (database, cache, mailer, captcha) reachable from any request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy.orm import Session

from portal.captcha import Captcha
from portal.config import PortalConfig
from portal.mailer import Mailer
from portal.serving import LeanServing
from vpanel_core.db import transaction
from vpanel_core.formats.cache import SubscriptionCache
from vpanel_core.runtime import Database
from vpanel_core.services.subscriptions import ServingCache

EXTENSION = "vpanel"


@dataclass(frozen=True, slots=True)
class PortalState:
    config: PortalConfig
    database: Database
    cache: SubscriptionCache
    mailer: Mailer
    captcha: Captcha
    #: settings, fleet and entitlements of the subscription hot path (short TTL)
    serving: ServingCache
    #: answers repeated subscription fetches from memory (portal/serving.py)
    lean: LeanServing


def portal() -> PortalState:
    return portal_of(current_app)


def portal_of(app: Flask) -> PortalState:
    state: PortalState = app.extensions[EXTENSION]
    return state


def written_accesses() -> None:
    """Write this process's spooled subscription fetches now, before showing or resetting
    access stats (other processes' fetches reach the database within `serving.SPOOL_SECONDS`)."""
    portal().lean.spool.flush()


@contextmanager
def unit() -> Iterator[Session]:
    """One transaction of the current app's database (commit on success, else roll back)."""
    with transaction(portal().database.sessions) as session:
        yield session
