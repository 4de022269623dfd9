"""Coupons: percent or fixed discounts with a usage limit and a validity window.

A use is taken by one conditional UPDATE (`used < max_uses`) so concurrent checkouts
cannot over-use a coupon; it is given back when the order expires or is cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from vpanel_core.billing.errors import CouponInvalid
from vpanel_core.errors import Conflict, ValidationError
from vpanel_core.models import Coupon, Plan
from vpanel_core.timeutil import require_aware


@dataclass(frozen=True, slots=True)
class NewCoupon:
    code: str
    kind: str  # "percent" (value 1-100) or "fixed" (value in minor units of `currency`)
    value: int
    currency: str = ""
    max_uses: int | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None


def normalize_code(code: str) -> str:
    return code.strip().upper()


def create_coupon(session: Session, spec: NewCoupon) -> Coupon:
    code = normalize_code(spec.code)
    if not 1 <= len(code) <= 32 or not code.replace("-", "").replace("_", "").isalnum():
        raise ValidationError("coupon code must be 1-32 letters, digits, '-' or '_'")
    if spec.kind == "percent" and not 1 <= spec.value <= 100:
        raise ValidationError("a percent coupon takes 1-100")
    if spec.kind == "fixed" and (spec.value <= 0 or not spec.currency):
        raise ValidationError("a fixed coupon needs a positive amount and a currency")
    if spec.kind not in ("percent", "fixed"):
        raise ValidationError("coupon kind must be 'percent' or 'fixed'")
    if spec.max_uses is not None and spec.max_uses < 1:
        raise ValidationError("max uses must be at least 1 (or unlimited)")
    if session.get(Coupon, code) is not None:
        raise Conflict(f"coupon {code!r} already exists")
    coupon = Coupon(
        code=code,
        kind=spec.kind,
        value=spec.value,
        currency=spec.currency.upper() if spec.kind == "fixed" else "",
        max_uses=spec.max_uses,
        used=0,
        valid_from=require_aware(spec.valid_from) if spec.valid_from else None,
        valid_until=require_aware(spec.valid_until) if spec.valid_until else None,
    )
    session.add(coupon)
    session.flush()
    return coupon


def discount_for(coupon: Coupon, plan: Plan, now: datetime) -> int:
    """The discount in the plan's minor units, or CouponInvalid saying why not."""
    if not coupon.enabled:
        raise CouponInvalid(f"coupon {coupon.code} is disabled")
    if coupon.valid_from is not None and now < coupon.valid_from:
        raise CouponInvalid(f"coupon {coupon.code} is not valid yet")
    if coupon.valid_until is not None and now >= coupon.valid_until:
        raise CouponInvalid(f"coupon {coupon.code} has expired")
    if coupon.kind == "percent":
        return plan.price_minor * coupon.value // 100
    if coupon.currency != plan.currency:
        raise CouponInvalid(f"coupon {coupon.code} is in {coupon.currency}, not {plan.currency}")
    return min(coupon.value, plan.price_minor)


def take_use(session: Session, code: str) -> None:
    """Count one use atomically; fails when the limit is reached."""
    taken = session.execute(
        update(Coupon)
        .where(Coupon.code == code)
        .where((Coupon.max_uses.is_(None)) | (Coupon.used < Coupon.max_uses))
        .values(used=Coupon.used + 1)
        .returning(Coupon.code)
    ).first()
    if taken is None:
        raise CouponInvalid(f"coupon {code} has been used up")


def give_back_use(session: Session, code: str) -> None:
    session.execute(
        update(Coupon).where(Coupon.code == code, Coupon.used > 0).values(used=Coupon.used - 1)
    )
