"""How the desktop reaches the portal: HTTP(S) with requests, errors mapped to codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import requests

from vpanel_core.sync import errors
from vpanel_core.sync.envelope import CONTENT_TYPE
from vpanel_core.sync.errors import PeerUnreachable, SyncRejected

CODES: dict[str, type[SyncRejected]] = {
    cls.code: cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, SyncRejected)
}


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    json: dict[str, Any] | None


class Transport(Protocol):
    def send(
        self, method: str, url: str, *, body: bytes | None = None, headers: dict[str, str]
    ) -> Reply: ...


class HttpTransport:
    """requests with timeouts; any network failure becomes PeerUnreachable."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.http = requests.Session()
        self.timeout = timeout

    def send(
        self, method: str, url: str, *, body: bytes | None = None, headers: dict[str, str]
    ) -> Reply:
        try:
            response = self.http.request(
                method, url, data=body, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise PeerUnreachable(f"portal unreachable: {type(exc).__name__}") from None
        is_json = response.headers.get("Content-Type", "").startswith("application/json")
        return Reply(response.status_code, response.content, response.json() if is_json else None)

    def close(self) -> None:
        self.http.close()


def sealed_body(reply: Reply) -> bytes:
    """The sealed message of a 200 reply; a coded error reply becomes its exception."""
    if reply.status == 200 and reply.json is None:
        return reply.body
    if reply.status >= 500 or reply.json is None:
        raise PeerUnreachable(f"portal answered HTTP {reply.status}")
    code = str(reply.json.get("code", ""))
    error = CODES.get(code, SyncRejected)
    raise error(str(reply.json.get("message", code)), details=reply.json.get("details") or {})


HEADERS = {"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE}
