"""The OpenAPI 3 description of every API route (a test checks none is missing).

Blueprints owned elsewhere (sync, billing) add their paths with `register_paths(app, …)`
from their `init_app`, so the document stays complete as the API grows.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

JSON = "application/json"
EXTENSION = "vpanel_openapi_paths"


def register_paths(app: Flask, paths: dict[str, Any]) -> None:
    """Add OpenAPI path items (e.g. {"/api/sync/events": {"get": {...}}}) to the document."""
    app.extensions.setdefault(EXTENSION, {}).update(paths)


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"description": description}
    if schema is not None:
        body["content"] = {JSON: {"schema": schema}}
    return body


def _param(name: str, where: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema or {"type": "string"},
    }


SUBSCRIPTION_QUERY = [
    _param("format", "query", "Client format (links, clash_meta, sing_box, …); else by User-Agent"),
    _param("protocols", "query", "Comma-separated protocols to keep, e.g. vless,hysteria2"),
]
SUBSCRIPTION_RESPONSES = {
    "200": {
        "description": "The subscription in the chosen format, with Subscription-Userinfo, "
        "Profile-Update-Interval, Content-Disposition, Profile-Title, Profile-Web-Page-Url, "
        "Support-Url, Announce and ETag headers; an HTML page for browsers (Accept: text/html).",
        "content": {"text/plain": {}, "text/yaml": {}, JSON: {}, "text/html": {}},
    },
    "304": {"description": "Not modified (If-None-Match / If-Modified-Since)"},
    "400": _error("INVALID_FORMAT or VALIDATION_ERROR (unknown protocol)"),
    "403": _error("USER_DISABLED, USER_EXPIRED or TRAFFIC_EXCEEDED"),
    "404": _error("SUBSCRIPTION_NOT_FOUND"),
    "429": _error("RATE_LIMITED (see Retry-After)"),
}
AUTH: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"sessionCookie": []}]
USER_ID = _param("user_id", "path", "User id", type="string", format="uuid")


def _subscription_get(summary: str, key: str) -> dict[str, Any]:
    params = [_param(key, "path", "Secret token or short code")]
    return {
        "get": {
            "summary": summary,
            "tags": ["subscription"],
            "parameters": params + SUBSCRIPTION_QUERY,
            "responses": SUBSCRIPTION_RESPONSES,
        }
    }


def document() -> dict[str, Any]:
    doc = base_document()
    doc["paths"].update(current_app.extensions.get(EXTENSION, {}))
    return doc


def base_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "vpanel portal API", "version": "1"},
        "paths": {
            "/api/subscription/{token}": _subscription_get("Fetch a subscription", "token"),
            "/s/{short_code}": _subscription_get("Fetch by short code", "short_code"),
            "/sub/{token}.yaml": _subscription_get("Clash Meta (mihomo) profile", "token"),
            "/sub/{token}.json": _subscription_get("sing-box profile", "token"),
            "/api/subscription/link": {
                "get": {
                    "summary": "The logged-in user's links, per-format URLs and import links",
                    "tags": ["user"],
                    "security": AUTH,
                    "responses": {
                        "200": _ok("Links", {"$ref": "#/components/schemas/Links"}),
                        "401": _error("LOGIN_REQUIRED"),
                        "404": _error("NOT_FOUND (no link; create one)"),
                    },
                }
            },
            "/api/subscription/info": {
                "get": {
                    "summary": "Status, traffic, expiry and access statistics",
                    "tags": ["user"],
                    "security": AUTH,
                    "responses": {
                        "200": _ok("Info", {"$ref": "#/components/schemas/Info"}),
                        "401": _error("LOGIN_REQUIRED"),
                        "404": _error("NOT_FOUND (no link)"),
                    },
                }
            },
            "/api/subscription/regenerate": {
                "post": {
                    "summary": "New token and short code; the old link answers 404 at once",
                    "description": "Cookie sessions must send the X-CSRF-Token header.",
                    "tags": ["user"],
                    "security": AUTH,
                    "responses": {
                        "200": _ok("The new links", {"$ref": "#/components/schemas/Links"}),
                        "401": _error("LOGIN_REQUIRED"),
                        "403": _error("CSRF_FAILED"),
                    },
                }
            },
            "/api/auth/token": {
                "post": {
                    "summary": "Exchange e-mail and password for a Bearer JWT",
                    "tags": ["auth"],
                    "requestBody": {
                        "required": True,
                        "content": {
                            JSON: {
                                "schema": {
                                    "type": "object",
                                    "required": ["email", "password"],
                                    "properties": {
                                        "email": {"type": "string", "format": "email"},
                                        "password": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _ok(
                            "Token",
                            {
                                "type": "object",
                                "properties": {
                                    "token": {"type": "string"},
                                    "token_type": {"type": "string", "enum": ["Bearer"]},
                                    "expires_at": {"type": "string", "format": "date-time"},
                                },
                            },
                        ),
                        "400": _error("VALIDATION_ERROR"),
                        "401": _error("INVALID_CREDENTIALS"),
                        "403": _error("EMAIL_NOT_VERIFIED"),
                        "429": _error("RATE_LIMITED or LOGIN_LOCKED (see Retry-After)"),
                    },
                }
            },
            "/api/admin/subscriptions": {
                "get": {
                    "summary": "Users with their subscription, status and access stats (paged)",
                    "tags": ["admin"],
                    "security": AUTH,
                    "parameters": [
                        _param("q", "query", "Search username, e-mail or alias"),
                        _param(
                            "status",
                            "query",
                            "Filter by status",
                            type="string",
                            enum=["active", "expired", "traffic_exceeded", "disabled"],
                        ),
                        _param("page", "query", "Page, from 1", type="integer", minimum=1),
                        _param(
                            "per_page", "query", "Page size", type="integer", minimum=1, maximum=200
                        ),
                    ],
                    "responses": {
                        "200": _ok("A page", {"$ref": "#/components/schemas/AdminPage"}),
                        "400": _error("VALIDATION_ERROR"),
                        "401": _error("LOGIN_REQUIRED"),
                        "403": _error("FORBIDDEN (not an admin)"),
                    },
                }
            },
            "/api/admin/subscriptions/{user_id}": {
                "delete": {
                    "summary": "Revoke a user's subscription link",
                    "tags": ["admin"],
                    "security": AUTH,
                    "parameters": [USER_ID],
                    "responses": {
                        "200": _ok("Revoked"),
                        "403": _error("FORBIDDEN"),
                        "404": _error("NOT_FOUND"),
                    },
                }
            },
            "/api/admin/subscriptions/{user_id}/reset-stats": {
                "post": {
                    "summary": "Reset a subscription's access statistics",
                    "tags": ["admin"],
                    "security": AUTH,
                    "parameters": [USER_ID],
                    "responses": {
                        "200": _ok("The cleared statistics"),
                        "403": _error("FORBIDDEN"),
                        "404": _error("NOT_FOUND"),
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "tags": ["meta"],
                    "responses": {"200": _ok("OpenAPI 3 document", {"type": "object"})},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "vp_session"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["code", "message", "details"],
                    "properties": {
                        "code": {"type": "string", "example": "SUBSCRIPTION_NOT_FOUND"},
                        "message": {"type": "string"},
                        "details": {"type": "object"},
                    },
                },
                "Links": {
                    "type": "object",
                    "properties": {
                        "subscription": {"type": "string", "format": "uri"},
                        "short": {"type": "string", "format": "uri"},
                        "clash_yaml": {"type": "string", "format": "uri"},
                        "sing_box_json": {"type": "string", "format": "uri"},
                        "formats": {"type": "object", "additionalProperties": {"type": "string"}},
                        "imports": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "client": {"type": "string"},
                                    "label": {"type": "string"},
                                    "url": {"type": "string"},
                                },
                            },
                        },
                    },
                },
                "Access": {
                    "type": "object",
                    "properties": {
                        "count": {"type": "integer"},
                        "last_at": {"type": "string", "format": "date-time", "nullable": True},
                        "last_ip": {"type": "string"},
                        "last_user_agent": {"type": "string"},
                    },
                },
                "Info": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "string"},
                        "expires_at": {"type": "string", "format": "date-time", "nullable": True},
                        "days_left": {"type": "integer"},
                        "traffic_total": {"type": "integer", "nullable": True},
                        "traffic_used": {"type": "integer"},
                        "traffic_remaining": {"type": "integer", "nullable": True},
                        "upload": {"type": "integer"},
                        "download": {"type": "integer"},
                        "access": {"$ref": "#/components/schemas/Access"},
                    },
                },
                "AdminPage": {
                    "type": "object",
                    "properties": {
                        "items": {"type": "array", "items": {"type": "object"}},
                        "page": {"type": "integer"},
                        "per_page": {"type": "integer"},
                        "total": {"type": "integer"},
                    },
                },
            },
        },
    }
