"""One login procedure for the form and the token API: rate limit, lockout, verify."""

from __future__ import annotations

from portal.site import client_ip
from portal.state import portal, unit
from vpanel_core import ratelimit
from vpanel_core.models import User
from vpanel_core.services import accounts


def attempt_login(email: str, password: str) -> User:
    """The user, or a coded error; each wrong password counts toward the account+IP lock."""
    limits = portal().config.limits
    ip = client_ip()
    key = ratelimit.lockout_key(email.strip(), ip)
    with unit() as session:
        ratelimit.hit(session, "login", ip, limits.login)
        ratelimit.check_lockout(session, key)
    try:
        with unit() as session:
            user = accounts.authenticate(session, email, password)
            ratelimit.clear_failures(session, key)
    except accounts.InvalidCredentials:
        with unit() as session:
            ratelimit.record_failure(session, key, limits.lockout)
        raise
    return user
