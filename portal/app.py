"""The Flask application factory: one typed config in, a ready WSGI app out."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, redirect, request, url_for
from sqlalchemy import text
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as BaseResponse

from portal import i18n, sync_api
from portal.access_spool import AccessSpool, spool_dir
from portal.billing import init_app as init_payments
from portal.billing import stop as stop_payments
from portal.blueprints import account, admin_api, api, auth, billing, dashboard, subscription
from portal.captcha import make_captcha
from portal.config import PortalConfig
from portal.errors import register_error_handlers
from portal.mailer import Mailer
from portal.pages import safe_next
from portal.redact import mask_path
from portal.serving import LeanPath, LeanServing
from portal.session_auth import (
    check_csrf,
    csrf_token,
    current_user,
    load_identity,
    store_csrf_cookie,
)
from portal.site import operator_settings
from portal.state import EXTENSION, PortalState, portal, portal_of
from vpanel_core.db import make_engine, migrate, session_factory, transaction
from vpanel_core.formats.cache import SubscriptionCache
from vpanel_core.runtime import Database
from vpanel_core.services.subscriptions import ServingCache

access_log = logging.getLogger("portal.access")
NONE = "'none'"
MIGRATION_LOCK = 0x7670616E656C  # "vpanel"
VENDOR_ORIGINS = {
    "turnstile": "https://challenges.cloudflare.com",
    "recaptcha": "https://www.google.com https://www.gstatic.com",
    "hcaptcha": "https://hcaptcha.com https://*.hcaptcha.com",
}


def create_app(config: PortalConfig | None = None, *, database: Database | None = None) -> Flask:
    """Build the portal; opens (and migrates) the database unless one is handed in."""
    config = config or PortalConfig.from_env()
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=config.max_content_length, JSON_SORT_KEYS=False)
    database = database or open_migrated(config.database_url)
    serving = ServingCache()
    spool = AccessSpool(spool_dir(config.database_url), lambda: transaction(database.sessions))
    spool.flush()  # what a killed process of this portal left, before the first fetch
    app.extensions[EXTENSION] = PortalState(
        config=config,
        database=database,
        cache=SubscriptionCache(),
        mailer=Mailer(config.smtp),
        captcha=make_captcha(config.secret_key, config.captcha),
        serving=serving,
        lean=LeanServing(
            serving,
            spool,
            lambda: transaction(database.sessions),
            operator_settings,
            lambda: portal_of(app).config.limits,
        ),
    )
    portal_of(app).lean.watch(database.sessions)
    # Outermost after ProxyFix: the lean path sees the client's address as Flask does.
    app.wsgi_app = LeanPath(app.wsgi_app, lambda: portal_of(app))  # type: ignore[method-assign]
    if config.trusted_proxy_hops:
        hops = config.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    register_error_handlers(app)
    app.before_request(choose_locale)
    app.before_request(load_identity)
    app.before_request(check_csrf)
    app.after_request(store_csrf_cookie)
    app.after_request(security_headers)
    app.after_request(log_access)
    app.context_processor(template_globals)
    for module in (subscription, auth, account, dashboard, billing, api, admin_api):
        app.register_blueprint(module.bp)
    init_payments(app)
    sync_api.init_app(app)
    app.add_url_rule("/", "index", index)
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/lang/<code>", "set_language", set_language)
    return app


def close_app(app: Flask) -> None:
    """Stop the app's background threads (payment poller, serving housekeeper): a stopped
    portal, or one whose database is about to go away, must not keep polling it."""
    stop_payments(app)
    portal_of(app).lean.stop()


def open_migrated(url: str) -> Database:
    """Open and migrate; on PostgreSQL under an advisory lock, so several processes
    starting together do not race each other through the same migration."""
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                migrate(engine)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                conn.commit()
    else:
        migrate(engine)
    return Database(engine, session_factory(engine))


def choose_locale() -> None:
    accepted = [tag for tag, _quality in request.accept_languages]
    cookie = request.cookies.get(i18n.COOKIE)
    g.locale = i18n.pick(cookie, accepted, current_default())


def current_default() -> str:
    return portal().config.default_locale


def template_globals() -> dict[str, Any]:
    locale: str = g.get("locale", "en")
    return {
        "_": lambda key, **values: i18n.translate(locale, key, **values),
        "error_text": lambda code, message: i18n.error_text(locale, code, message),
        "locale": locale,
        "locales": [(code, i18n.translate(code, "lang.name")) for code in i18n.SUPPORTED],
        "csrf_token": csrf_token,
        "current_user": current_user(),
    }


def security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")  # links carry secret tokens
    headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        vendor = VENDOR_ORIGINS.get(portal().config.captcha.provider, "")
        headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; img-src 'self' data:; style-src 'self'; "
            f"script-src 'self' {vendor}; frame-src {vendor or NONE}; "
            f"connect-src 'self' {vendor}; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'",
        )
    return response


def log_access(response: Response) -> Response:
    access_log.info(
        "%s %s %s %s",
        request.method,
        mask_path(request.path),
        response.status_code,
        request.remote_addr,
    )
    return response


def index() -> BaseResponse:
    return redirect(url_for("dashboard.show" if current_user() else "auth.login"))


def healthz() -> dict[str, str]:
    return {"status": "ok"}


def set_language(code: str) -> BaseResponse:
    locale = i18n.normalize(code) or "en"
    response = redirect(safe_next(request.args.get("next")) or "/")  # no open redirect
    response.set_cookie(i18n.COOKIE, locale, max_age=86400 * 365, samesite="Lax")
    return response
