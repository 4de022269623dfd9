"""Billing errors with stable codes, rendered by the portal's one error handler."""

from __future__ import annotations

from vpanel_core.errors import Conflict, DomainError, ValidationError


class CouponInvalid(ValidationError):
    code = "COUPON_INVALID"


class OrderNotPending(Conflict):
    code = "ORDER_NOT_PENDING"


class PaymentUnavailable(DomainError):
    code = "PAYMENT_UNAVAILABLE"
    http_status = 503


class TxidRejected(ValidationError):
    code = "TXID_REJECTED"
