"""Plans: what the operator sells."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vpanel_core import validation
from vpanel_core.errors import Conflict, NotFound, ValidationError
from vpanel_core.models import Plan

CURRENCIES = {"USD", "EUR", "CNY", "GBP", "JPY", "HKD", "RUB", "USDT"}


@dataclass(frozen=True, slots=True)
class NewPlan:
    name: str
    price_minor: int
    currency: str
    duration_days: int
    traffic_bytes: int = 0
    reset_strategy: str = "none"
    node_groups: tuple[str, ...] = ()
    description: str = ""
    visible: bool = True
    sort_order: int = 0


def create_plan(session: Session, spec: NewPlan) -> Plan:
    name = spec.name.strip()
    if not 1 <= len(name) <= 80:
        raise ValidationError("plan name must be 1-80 characters")
    if not 0 <= spec.price_minor <= 100_000_000_00:
        raise ValidationError(
            f"price must be between 0 and 10,000,000,000 minor units, got {spec.price_minor}"
        )
    currency = spec.currency.upper()
    if currency not in CURRENCIES:
        raise ValidationError(f"currency must be one of {', '.join(sorted(CURRENCIES))}")
    if not 1 <= spec.duration_days <= validation.MAX_DAYS:
        raise ValidationError(f"duration must be 1-{validation.MAX_DAYS} days")
    validation.byte_count(spec.traffic_bytes)
    strategy = validation.reset_strategy(spec.reset_strategy)
    if session.scalars(select(Plan.id).where(Plan.name == name)).first() is not None:
        raise Conflict(f"a plan named {name!r} already exists")
    plan = Plan(
        name=name,
        description=spec.description,
        price_minor=spec.price_minor,
        currency=currency,
        duration_days=spec.duration_days,
        traffic_bytes=spec.traffic_bytes,
        reset_strategy=strategy.value,
        node_groups=list(spec.node_groups),
        visible=spec.visible,
        sort_order=spec.sort_order,
    )
    session.add(plan)
    session.flush()
    return plan


def find_plan(session: Session, ref: str) -> Plan:
    try:
        plan = session.get(Plan, uuid.UUID(ref))
    except ValueError:
        plan = session.scalars(select(Plan).where(Plan.name == ref)).first()
    if plan is None:
        raise NotFound(f"no plan {ref!r}")
    return plan


def list_plans(session: Session, *, visible_only: bool = False) -> Sequence[Plan]:
    query = select(Plan).order_by(Plan.sort_order, Plan.price_minor, Plan.name)
    if visible_only:
        query = query.where(Plan.visible.is_(True))
    return session.scalars(query).all()
