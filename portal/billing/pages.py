"""Customer pages: start a checkout, see orders, pay USDT (TXID), read receipts."""

from __future__ import annotations

import uuid

from flask import Blueprint, redirect, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from portal.billing.state import billing
from portal.session_auth import require_user
from portal.state import unit
from vpanel_core import settings
from vpanel_core.billing import fulfilment, money, orders, queries
from vpanel_core.billing.config import TRON_ADDRESS_SETTING
from vpanel_core.billing.errors import PaymentUnavailable, TxidRejected
from vpanel_core.billing.queries import OrderFilter
from vpanel_core.billing.stripe_pay import checkout
from vpanel_core.billing.tron import txid as txids
from vpanel_core.billing.tron.client import TronGrid
from vpanel_core.errors import NotFound
from vpanel_core.models import Order, Plan
from vpanel_core.services import plans

bp = Blueprint("checkout", __name__)


def _own_order(session: Session, order_id: str) -> Order:
    order = orders.get_order(session, order_id)
    if order.user_id != require_user().id:
        raise NotFound(f"no order {order_id}")
    return order


@bp.post("/checkout")
def start() -> Response:
    user = require_user()
    actor = f"customer:{user.id}"
    with unit() as session:
        plan = plans.find_plan(session, request.form.get("plan_id", ""))
        order = orders.create_order(
            session,
            session.merge(user),
            plan,
            provider=request.form.get("method", "stripe"),
            actor=actor,
            coupon_code=request.form.get("coupon", ""),
        )
        if order.amount_minor == 0:
            fulfilment.settle_free(session, order, actor)
    if order.provider == "stripe" and order.amount_minor > 0:
        return redirect(_stripe_url(order, plan), code=303)
    return redirect(url_for("checkout.order_page", order_id=order.id), code=303)


def _stripe_url(order: Order, plan: Plan) -> str:
    client = checkout.make_client(billing().config)
    page = url_for("checkout.order_page", order_id=order.id, _external=True)
    made = checkout.create_session(client, order, plan, success_url=page, cancel_url=page)
    with unit() as session:
        session.merge(order).provider_ref = made.id
    return made.url


@bp.get("/orders")
def history() -> str:
    user = require_user()
    with unit() as session:
        mine = queries.list_orders(session, OrderFilter(user_id=user.id))
        names = {p.id: p.name for p in plans.list_plans(session)}
    return render_template(
        "checkout/orders.html", orders=mine, plan_names=names, fmt=money.format_amount
    )


@bp.get("/orders/<order_id>")
def order_page(order_id: str) -> str:
    with unit() as session:
        order = _own_order(session, order_id)
        plan = session.get(Plan, order.plan_id) if order.plan_id else None
        paid = queries.payments_of(session, order.id)
        address = str(settings.get(session, TRON_ADDRESS_SETTING) or "")
    return render_template(
        "checkout/order.html",
        order=order,
        plan=plan,
        payments=[p for p in paid if p.status in ("succeeded", "refunded")],
        address=address,
        usdt_due=money.format_amount(order.pay_amount_micro or 0, "USDT"),
        chain_access=billing().config.chain_access,
        fmt=money.format_amount,
        txid_error=request.args.get("error", ""),
    )


@bp.post("/orders/<order_id>/txid")
def submit_txid(order_id: str) -> Response:
    user = require_user()
    config = billing().config
    with unit() as session:
        order = _own_order(session, order_id)
        to = str(settings.get(session, TRON_ADDRESS_SETTING) or "")
    if not config.chain_access:
        raise PaymentUnavailable("the operator confirms USDT payments by hand; please wait")
    client = TronGrid(
        config.trongrid_url,
        api_key=config.trongrid_api_key,
        timeout=config.http_timeout,
        contract=config.usdt_contract,
    )
    try:
        transfer = txids.fetch_transfer(client, txids.normalize_txid(request.form["txid"]), to)
        with unit() as session:
            txids.claim(session, order.id, transfer, f"customer:{user.id}")
    except TxidRejected as exc:
        return redirect(url_for("checkout.order_page", order_id=order.id, error=exc.message))
    finally:
        client.close()
    return redirect(url_for("checkout.order_page", order_id=order.id), code=303)


@bp.post("/orders/<order_id>/cancel")
def cancel(order_id: str) -> Response:
    user = require_user()
    with unit() as session:
        order = _own_order(session, order_id)
        orders.cancel_order(session, order, f"customer:{user.id}")
    return redirect(url_for("checkout.order_page", order_id=uuid.UUID(order_id)), code=303)
