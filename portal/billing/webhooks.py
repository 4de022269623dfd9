"""`POST /webhooks/stripe`: verified against the raw body, applied once per event id."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request

from portal.billing.state import billing
from portal.state import unit
from vpanel_core.billing.stripe_pay.webhook import BadSignature, handle_event, verified_event
from vpanel_core.errors import DomainError

bp = Blueprint("billing_webhooks", __name__)
log = logging.getLogger(__name__)


@bp.post("/webhooks/stripe")
def stripe_webhook() -> tuple[Response, int]:
    config = billing().config
    if not config.stripe_enabled:
        return jsonify(code="PAYMENT_UNAVAILABLE", message="Stripe is not configured"), 503
    try:
        event = verified_event(
            request.get_data(cache=True),
            request.headers.get("Stripe-Signature", ""),
            config.stripe_webhook_secret,
        )
        with unit() as session:
            outcome = handle_event(session, event)
    except BadSignature as exc:
        log.warning("rejected Stripe webhook: %s", exc.message)
        return jsonify(exc.as_dict()), 400
    except DomainError as exc:
        return jsonify(exc.as_dict()), exc.http_status
    log.info("Stripe event %s (%s): %s", event["id"], event.get("type"), outcome)
    return jsonify(received=True, outcome=outcome), 200
