"""Why a sync message was refused; each code is what the other side and tests match on."""

from __future__ import annotations

from vpanel_core.errors import DomainError


class SyncRejected(DomainError):
    code = "SYNC_REJECTED"
    http_status = 400


class SignatureInvalid(SyncRejected):
    code = "SYNC_SIGNATURE_INVALID"
    http_status = 401


class MessageExpired(SyncRejected):
    code = "SYNC_MESSAGE_EXPIRED"
    http_status = 401


class MessageReplayed(SyncRejected):
    code = "SYNC_MESSAGE_REPLAYED"
    http_status = 409


class MessageMalformed(SyncRejected):
    code = "SYNC_MESSAGE_MALFORMED"


class NotPaired(SyncRejected):
    code = "SYNC_NOT_PAIRED"
    http_status = 403


class PairingCodeInvalid(SyncRejected):
    code = "SYNC_PAIRING_CODE_INVALID"
    http_status = 403


class ResyncRequired(SyncRejected):
    """The portal has not applied the versions this delta builds on: send a snapshot."""

    code = "SYNC_RESYNC_REQUIRED"
    http_status = 409


class NodeAuthFailed(SyncRejected):
    code = "NODE_AUTH_FAILED"
    http_status = 401


class PeerUnreachable(SyncRejected):
    """Transport failure (connection refused, timeout, 5xx): retry later."""

    code = "SYNC_PEER_UNREACHABLE"
    http_status = 503
