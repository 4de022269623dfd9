"""Plans on sale. Payment providers (Stripe, USDT) plug in here later, per plan."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, g

from portal import i18n
from portal.pages import page
from portal.state import unit
from vpanel_core.formats.options import human_bytes
from vpanel_core.models import Plan
from vpanel_core.services import plans as plan_service

bp = Blueprint("billing", __name__)
ZERO_DECIMAL = frozenset({"JPY"})


@dataclass(frozen=True, slots=True)
class PlanView:
    id: str
    name: str
    description: str
    price: str
    duration_days: int
    traffic: str


def price_text(minor: int, currency: str) -> str:
    if currency in ZERO_DECIMAL:
        return f"{minor} {currency}"
    return f"{minor / 100:.2f} {currency}"


def view(plan: Plan) -> PlanView:
    traffic = (
        i18n.translate(g.locale, "payment.unlimited")
        if plan.unlimited_traffic
        else human_bytes(plan.traffic_bytes)
    )
    return PlanView(
        id=str(plan.id),
        name=plan.name,
        description=plan.description,
        price=price_text(plan.price_minor, plan.currency),
        duration_days=plan.duration_days,
        traffic=traffic,
    )


@bp.get("/payment")
def plans() -> Response:
    with unit() as session:
        visible = [view(p) for p in plan_service.list_plans(session, visible_only=True)]
    return page("payment.html", plans=visible)
