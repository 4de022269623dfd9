"""User accounts: create, find, change, delete — each one transaction of the caller."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vpanel_core import validation
from vpanel_core.errors import Conflict, NotFound, ValidationError
from vpanel_core.models import Plan, Subscription, UsageTotal, User
from vpanel_core.passwords import hash_password
from vpanel_core.secrets_util import new_proxy_secret, new_short_code, new_token
from vpanel_core.services import ledger


@dataclass(frozen=True, slots=True)
class NewUser:
    username: str
    email: str | None = None
    password: str | None = None
    alias: str = ""
    notes: str = ""
    days: float = 0
    traffic_bytes: int = 0
    reset_strategy: str = "none"
    node_groups: tuple[str, ...] = ()
    role: str = "customer"


def create_user(session: Session, spec: NewUser) -> User:
    username = validation.username(spec.username)
    email = validation.email(spec.email) if spec.email else None
    validation.days(spec.days)
    validation.byte_count(spec.traffic_bytes)
    strategy = validation.reset_strategy(spec.reset_strategy)
    if spec.role not in ("customer", "admin"):
        raise ValidationError(f"role must be customer or admin, got {spec.role!r}")
    _ensure_unique(session, username, email)
    user = User(
        username=username,
        email=email,
        password_hash=hash_password(spec.password) if spec.password else None,
        alias=spec.alias.strip()[:64],
        notes=spec.notes,
        role=spec.role,
        proxy_secret=new_proxy_secret(),
        reset_strategy=strategy.value,
        node_groups=list(spec.node_groups),
    )
    session.add(user)
    session.flush()
    issue_subscription(session, user)
    if spec.days or spec.traffic_bytes:
        ledger.renew(
            session,
            user,
            days=spec.days,
            traffic_bytes=spec.traffic_bytes,
            note="initial allowance",
        )
    return user


def _ensure_unique(
    session: Session, username: str, email: str | None, exclude: uuid.UUID | None = None
) -> None:
    conditions = [User.username == username]
    if email:
        conditions.append(User.email == email)
    query = select(User).where(or_(*conditions))
    if exclude is not None:
        query = query.where(User.id != exclude)
    clash = session.scalars(query).first()
    if clash is None:
        return
    if clash.username == username:
        raise Conflict(f"username {username!r} is already taken")
    raise Conflict(f"e-mail {email!r} is already registered")


def issue_subscription(session: Session, user: User) -> Subscription:
    """Give the user a fresh token and short code (replacing any old one at once)."""
    for _attempt in range(5):
        token, short = new_token(), new_short_code()
        exists = session.scalars(
            select(Subscription.id).where(
                or_(Subscription.token == token, Subscription.short_code == short)
            )
        ).first()
        if exists is None:
            break
    else:
        raise Conflict("could not allocate a unique short code; try again")
    sub = session.scalars(select(Subscription).where(Subscription.user_id == user.id)).first()
    if sub is None:
        sub = Subscription(user_id=user.id, token=token, short_code=short)
        session.add(sub)
    else:
        sub.token, sub.short_code = token, short
    session.flush()
    return sub


def find_user(session: Session, ref: str) -> User:
    """A user by id, username or e-mail; a clear NotFound otherwise."""
    ref = ref.strip()
    try:
        user = session.get(User, uuid.UUID(ref))
    except ValueError:
        user = session.scalars(
            select(User).where(or_(User.username == ref, User.email == ref.lower()))
        ).first()
    if user is None:
        raise NotFound(f"no user {ref!r}")
    return user


def list_users(
    session: Session, *, search: str = "", limit: int = 100, offset: int = 0
) -> Sequence[User]:
    query = select(User).order_by(User.created_at, User.username)
    if search:
        pattern = f"%{search}%"
        query = query.where(
            or_(User.username.ilike(pattern), User.email.ilike(pattern), User.alias.ilike(pattern))
        )
    return session.scalars(query.limit(limit).offset(offset)).all()


def set_enabled(session: Session, user: User, enabled: bool) -> None:
    user.enabled = enabled


def update_profile(
    session: Session,
    user: User,
    *,
    email: str | None = None,
    alias: str | None = None,
    notes: str | None = None,
    reset_strategy: str | None = None,
    node_groups: Sequence[str] | None = None,
) -> None:
    if email is not None:
        normalized = validation.email(email)
        _ensure_unique(session, user.username, normalized, exclude=user.id)
        if normalized != user.email:
            user.email, user.email_verified = normalized, False
    if alias is not None:
        user.alias = alias.strip()[:64]
    if notes is not None:
        user.notes = notes
    if reset_strategy is not None:
        user.reset_strategy = validation.reset_strategy(reset_strategy).value
    if node_groups is not None:
        user.node_groups = list(node_groups)


def apply_plan(session: Session, user: User, plan: Plan, *, grant_id: str, source: str) -> bool:
    """Grant a plan's time and traffic; returns False if this grant id was already applied."""
    applied = ledger.renew(
        session,
        user,
        days=plan.duration_days,
        traffic_bytes=plan.traffic_bytes,
        unlimited=plan.unlimited_traffic,
        source=source,
        grant_id=grant_id,
        note=f"plan {plan.name}",
    )
    if applied:
        user.plan_id = plan.id
        user.reset_strategy = plan.reset_strategy
        user.node_groups = list(plan.node_groups or [])
    return applied


def delete_user(session: Session, user: User) -> None:
    # Day and hour rollups stay (node charts keep the traffic); the totals go with the user.
    session.execute(delete(UsageTotal).where(UsageTotal.user_id == user.id))
    session.delete(user)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"cannot delete user {user.username!r}: {exc.orig}") from exc
