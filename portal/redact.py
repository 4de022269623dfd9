"""Keep secrets out of logs: tokens in paths are cut to a short prefix."""

from __future__ import annotations

import re

# Subscription tokens, short codes and one-time mail tokens all sit in the path.
_SECRET_SEGMENT = re.compile(
    r"(?P<prefix>/(?:api/subscription|s|sub|verify|reset|profile/email)/)(?P<secret>[^/?#.]+)"
)


def mask(value: str, keep: int = 4) -> str:
    return value[:keep] + "…" if len(value) > keep else "…"


def mask_path(path: str) -> str:
    """'/api/subscription/AbCdEf…43chars' → '/api/subscription/AbCd…' (static names kept)."""

    def repl(match: re.Match[str]) -> str:
        secret = match.group("secret")
        if secret in {"link", "info", "regenerate", "resend"}:
            return match.group(0)
        return match.group("prefix") + mask(secret)

    return _SECRET_SEGMENT.sub(repl, path)
