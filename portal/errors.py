"""One place renders every error: JSON `{code, message, details}` for API and subscription
routes, an HTML page for browser routes. No stack trace ever reaches a client."""

from __future__ import annotations

import logging
import traceback

from flask import Flask, Response, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from portal.redact import mask_path
from vpanel_core.errors import DomainError
from vpanel_core.formats.errors import FormatError
from vpanel_core.ratelimit import RateLimited
from vpanel_core.subscription_errors import InvalidFormat

log = logging.getLogger(__name__)
JSON_PREFIXES = ("/api/", "/s/", "/sub/")
HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "LOGIN_REQUIRED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE",
    431: "HEADERS_TOO_LARGE",
}


def wants_json() -> bool:
    if g.get("html_errors"):
        return False
    return request.path.startswith(JSON_PREFIXES) or request.path == "/api"


def render(status: int, code: str, message: str, details: dict[str, object]) -> Response:
    if wants_json():
        response = jsonify({"code": code, "message": message, "details": details})
    else:
        response = Response(
            render_template("error.html", code=code, message=message), mimetype="text/html"
        )
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def domain_error(exc: DomainError) -> BaseResponse:
    if exc.code == "LOGIN_REQUIRED" and not wants_json():
        return redirect(url_for("auth.login", next=request.path))
    response = render(exc.http_status, exc.code, exc.message, exc.details)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def format_error(exc: FormatError) -> BaseResponse:
    return domain_error(InvalidFormat(exc.message))


def http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = HTTP_CODES.get(status, "HTTP_ERROR")
    return render(status, code, exc.description or code, {})


def database_unavailable(exc: OperationalError) -> Response:
    """The database is down, restarting or busy: a transient 503 clients (and Stripe) retry,
    not a 500. The driver's message is not logged: it can quote SQL parameters."""
    log.warning(
        "database unavailable (%s) on %s %s",
        type(exc.orig).__name__,
        request.method,
        mask_path(request.path),
    )
    response = render(
        503, "DATABASE_UNAVAILABLE", "temporarily unavailable; please try again shortly", {}
    )
    response.headers["Retry-After"] = "5"
    return response


def unexpected(exc: Exception) -> Response:
    # Frames but not the message: driver errors can quote SQL parameters (tokens).
    log.error(
        "unhandled %s on %s %s\n%s",
        type(exc).__name__,
        request.method,
        mask_path(request.path),
        "".join(traceback.format_tb(exc.__traceback__)),
    )
    return render(500, "INTERNAL_ERROR", "internal error; please try again later", {})


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, domain_error)
    app.register_error_handler(FormatError, format_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(OperationalError, database_unavailable)
    app.register_error_handler(Exception, unexpected)
