"""Checkout, orders, receipts and payment webhooks: the HTTP side of vpanel_core.billing.

`init_app` registers the blueprints and applies the configuration (from the environment
unless given); `configure` swaps it (tests, a settings reload) and starts the TRON
poller thread when chain access is configured; `stop` ends that thread.
"""

from __future__ import annotations

from flask import Flask

from portal.billing.pages import bp as pages_bp
from portal.billing.state import EXTENSION, BillingState
from portal.billing.webhooks import bp as webhooks_bp
from portal.state import EXTENSION as PORTAL_EXTENSION
from vpanel_core.billing.config import BillingConfig
from vpanel_core.billing.tron.poller import TronPoller


def init_app(app: Flask, config: BillingConfig | None = None) -> None:
    app.register_blueprint(pages_bp)
    app.register_blueprint(webhooks_bp)
    configure(app, config or BillingConfig.from_env())


def configure(app: Flask, config: BillingConfig) -> None:
    stop(app)
    state = BillingState(config)
    if config.chain_access:
        sessions = app.extensions[PORTAL_EXTENSION].database.sessions
        state.poller = TronPoller(sessions, config).start()
    app.extensions[EXTENSION] = state


def stop(app: Flask) -> None:
    state: BillingState | None = app.extensions.get(EXTENSION)
    if state is not None and state.poller is not None:
        state.poller.stop()
        state.poller = None
