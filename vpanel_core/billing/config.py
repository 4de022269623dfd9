"""Payment provider settings; secrets come from the environment, never from logs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

USDT_TRC20_CONTRACT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
TRON_ADDRESS_SETTING = "usdt_trc20_address"


@dataclass(frozen=True, slots=True)
class BillingConfig:
    """Empty Stripe key: no card payments. Empty TronGrid URL: USDT orders wait for the
    operator to confirm them (`confirm_manual_payment`) instead of being watched on chain.
    The receiving TRON address is an operator setting (`usdt_trc20_address`)."""

    stripe_secret_key: str = field(default="", repr=False)
    stripe_webhook_secret: str = field(default="", repr=False)
    stripe_api_base: str = ""
    trongrid_url: str = ""
    trongrid_api_key: str = field(default="", repr=False)
    usdt_contract: str = USDT_TRC20_CONTRACT
    tron_poll_seconds: float = 30.0
    http_timeout: float = 15.0

    @property
    def stripe_enabled(self) -> bool:
        return bool(self.stripe_secret_key and self.stripe_webhook_secret)

    @property
    def chain_access(self) -> bool:
        return bool(self.trongrid_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BillingConfig:
        env = os.environ if env is None else env
        return cls(
            stripe_secret_key=env.get("VPANEL_STRIPE_SECRET_KEY", ""),
            stripe_webhook_secret=env.get("VPANEL_STRIPE_WEBHOOK_SECRET", ""),
            stripe_api_base=env.get("VPANEL_STRIPE_API_BASE", ""),
            trongrid_url=env.get("VPANEL_TRONGRID_URL", "").rstrip("/"),
            trongrid_api_key=env.get("VPANEL_TRONGRID_API_KEY", ""),
            tron_poll_seconds=float(env.get("VPANEL_TRON_POLL_SECONDS", "30")),
        )
