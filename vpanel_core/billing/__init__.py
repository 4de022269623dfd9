"""Selling plans: orders, coupons, payments (Stripe, USDT-TRC20, manual) and their grants.

Payment processing is idempotent end to end: a payment row is unique per
(provider, provider reference), an order leaves `pending` through one conditional
UPDATE, and the plan is granted under a grant id derived from the payment.
"""
