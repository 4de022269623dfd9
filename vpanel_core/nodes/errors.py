"""Node errors carry a code so the desktop can tell "fix your key" from "try again later"."""

from __future__ import annotations

from vpanel_core.errors import DomainError


class NodeError(DomainError):
    code = "NODE_ERROR"
    http_status = 502


class NodeUnreachable(NodeError):
    """The node could not be reached or the connection dropped: worth retrying."""

    code = "NODE_UNREACHABLE"


class UploadIncomplete(NodeError):
    """The node took fewer bytes than were sent: usually its disk is full."""

    code = "UPLOAD_INCOMPLETE"
    http_status = 507


class HostKeyNotPinned(NodeError):
    code = "HOST_KEY_NOT_PINNED"
    http_status = 409


class HostKeyMismatch(NodeError):
    """The node presented another host key than the pinned one: never connect."""

    code = "HOST_KEY_MISMATCH"
    http_status = 409

    def __init__(self, host: str, expected: str, actual: str) -> None:
        super().__init__(
            f"host key of {host} changed: pinned {expected}, offered {actual}; "
            "refusing to connect (re-pin only if you know why it changed)",
            details={"host": host, "expected": expected, "actual": actual},
        )
        self.expected = expected
        self.actual = actual


class SshAuthFailed(NodeError):
    code = "SSH_AUTH_FAILED"
    http_status = 401


class RemoteCommandFailed(NodeError):
    code = "REMOTE_COMMAND_FAILED"


class UnsupportedNode(NodeError):
    code = "UNSUPPORTED_NODE"
    http_status = 400
