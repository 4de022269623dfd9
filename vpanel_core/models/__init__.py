"""All mapped classes; importing this module registers them on `Base.metadata`."""

# Sync tables live with the sync package; importing registers them on the metadata.
import vpanel_core.sync.models  # noqa: F401
from vpanel_core.models.account import AccountToken, RevokedSession
from vpanel_core.models.base import Base, UTCDateTime
from vpanel_core.models.billing import (
    ChainTransfer,
    Coupon,
    Order,
    OrderEvent,
    Payment,
    WebhookEvent,
)
from vpanel_core.models.ledger import Grant
from vpanel_core.models.node import Inbound, Node
from vpanel_core.models.plan import Plan
from vpanel_core.models.ratelimit import LoginThrottle, RateLimitCounter
from vpanel_core.models.settings import Setting
from vpanel_core.models.subscription import Subscription
from vpanel_core.models.usage import (
    UsageApplied,
    UsageCursor,
    UsageDaily,
    UsageHourly,
    UsageNodeDaily,
    UsageTotal,
    UsageUnknown,
)
from vpanel_core.models.user import User

__all__ = [
    "AccountToken",
    "Base",
    "ChainTransfer",
    "Coupon",
    "Grant",
    "Inbound",
    "LoginThrottle",
    "Node",
    "Order",
    "OrderEvent",
    "Payment",
    "Plan",
    "RateLimitCounter",
    "RevokedSession",
    "Setting",
    "Subscription",
    "UTCDateTime",
    "UsageApplied",
    "UsageCursor",
    "UsageDaily",
    "UsageHourly",
    "UsageNodeDaily",
    "UsageTotal",
    "UsageUnknown",
    "User",
    "WebhookEvent",
]
