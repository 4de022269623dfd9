"""The billing configuration and poller of the current app."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from vpanel_core.billing.config import BillingConfig
from vpanel_core.billing.tron.poller import TronPoller

EXTENSION = "vpanel_billing"


@dataclass(slots=True)
class BillingState:
    config: BillingConfig
    poller: TronPoller | None = None


def billing() -> BillingState:
    state: BillingState = current_app.extensions[EXTENSION]
    return state
