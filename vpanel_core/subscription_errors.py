"""Why a subscription link cannot be served: errors with stable codes clients match on."""

from __future__ import annotations

from vpanel_core.errors import DomainError


class SubscriptionNotFound(DomainError):
    """Unknown, revoked or malformed token: one identical answer, so guessing learns nothing."""

    code = "SUBSCRIPTION_NOT_FOUND"
    http_status = 404

    def __init__(self) -> None:
        super().__init__("no subscription at this address")


class UserDisabled(DomainError):
    code = "USER_DISABLED"
    http_status = 403

    def __init__(self) -> None:
        super().__init__("this account is disabled; contact support")


class UserExpired(DomainError):
    code = "USER_EXPIRED"
    http_status = 403

    def __init__(self) -> None:
        super().__init__("this subscription has expired; renew your plan")


class TrafficExceeded(DomainError):
    code = "TRAFFIC_EXCEEDED"
    http_status = 403

    def __init__(self) -> None:
        super().__init__("the traffic allowance of this subscription is used up")


class InvalidFormat(DomainError):
    code = "INVALID_FORMAT"
    http_status = 400
