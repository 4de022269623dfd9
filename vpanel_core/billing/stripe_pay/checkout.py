"""Create a Stripe Checkout Session for an order with the official SDK.

Called outside any database transaction (no lock is held while Stripe answers); the
idempotency key makes a retried call return the same session instead of a second one.
"""

from __future__ import annotations

from dataclasses import dataclass

import stripe

from vpanel_core.billing.config import BillingConfig
from vpanel_core.billing.errors import PaymentUnavailable
from vpanel_core.models import Order, Plan


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    id: str
    url: str


def make_client(config: BillingConfig) -> stripe.StripeClient:
    if not config.stripe_enabled:
        raise PaymentUnavailable("card payments are not configured")
    base = {"api": config.stripe_api_base} if config.stripe_api_base else None
    return stripe.StripeClient(config.stripe_secret_key, base_addresses=base)  # type: ignore[arg-type]


def create_session(
    client: stripe.StripeClient, order: Order, plan: Plan, *, success_url: str, cancel_url: str
) -> CheckoutSession:
    metadata = {"order_id": str(order.id), "user_id": str(order.user_id), "plan_id": str(plan.id)}
    try:
        session = client.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "client_reference_id": str(order.id),
                "metadata": metadata,
                "payment_intent_data": {"metadata": metadata},
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": order.currency.lower(),
                            "unit_amount": order.amount_minor,
                            "product_data": {"name": plan.name},
                        },
                    }
                ],
                "success_url": success_url,
                "cancel_url": cancel_url,
                "expires_at": int(order.expires_at.timestamp()),
            },
            options={"idempotency_key": f"vpanel-order-{order.id}"},
        )
    except stripe.StripeError as exc:
        raise PaymentUnavailable(f"Stripe refused the checkout: {exc.user_message or exc}") from exc
    if not session.url:
        raise PaymentUnavailable("Stripe returned a checkout session without a URL")
    return CheckoutSession(session.id, session.url)
