"""OpenAPI path items of the sync API (registered by `sync_api.init_app`)."""

from __future__ import annotations

from typing import Any

JWT = "application/jwt"
JSON = "application/json"
SEALED = {
    JWT: {
        "schema": {
            "type": "string",
            "format": "binary",
            "description": "gzip(EdDSA JWT + newline + JSON body); see docs/sync.md",
        }
    }
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _sealed_post(summary: str, answer: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "tags": ["sync"],
            "requestBody": {"required": True, "content": SEALED},
            "responses": {
                "200": {"description": answer, "content": SEALED},
                "400": _error("malformed message"),
                "401": _error("bad signature or expired"),
                "403": _error("not paired / wrong pairing code"),
                "409": _error("replayed message or snapshot required"),
            },
        }
    }


PATHS: dict[str, Any] = {
    "/api/sync/pairing-code": {
        "post": {
            "summary": "Issue a one-time pairing code (admin)",
            "tags": ["sync"],
            "responses": {
                "200": {
                    "description": "the code, valid 15 minutes",
                    "content": {JSON: {"schema": {"type": "object"}}},
                },
                "401": _error("login required"),
                "403": _error("admins only"),
            },
        }
    },
    "/api/sync/pair": _sealed_post("Pair a desktop with a one-time code", "portal's key"),
    "/api/sync/publish": _sealed_post("Apply a snapshot page or delta", "acknowledgement"),
    "/api/sync/events": {
        "get": {
            "summary": "Pull portal events after a cursor (signed request in Authorization)",
            "tags": ["sync"],
            "parameters": [
                {"name": "cursor", "in": "query", "schema": {"type": "integer"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer"}},
            ],
            "responses": {
                "200": {"description": "a signed page of events", "content": SEALED},
                "400": _error("unsigned request or a cursor/limit that is not an integer"),
                "401": _error("bad signature or expired"),
                "403": _error("no desktop is paired"),
                "409": _error("replayed request"),
            },
        }
    },
    "/api/node/entitlements": {
        "get": {
            "summary": "Active users a node must serve (node pull token as Bearer)",
            "tags": ["sync"],
            "parameters": [
                {
                    "name": "X-Node-Id",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "200": {
                    "description": "users with credential material",
                    "content": {JSON: {"schema": {"type": "object"}}},
                },
                "401": _error("unknown node or wrong token"),
            },
        }
    },
}
