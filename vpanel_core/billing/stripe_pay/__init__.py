"""Stripe Checkout: creating sessions with the official SDK and handling its webhooks."""
