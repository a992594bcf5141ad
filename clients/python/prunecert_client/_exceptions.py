"""The client's exceptions, one per gRPC status a caller can act on.

ClientError
├── ConnectionFailed     UNAVAILABLE (after the automatic retries); .hint names the setting
│   │                    that fixes a known cause (prunecert_client._connection)
│   └── TlsHandshakeFailed   the TLS handshake failed (untrusted CA, wrong name, no TLS)
├── InvalidRequest       INVALID_ARGUMENT; .violations lists (field, description)
├── ResourceExhausted    RESOURCE_EXHAUSTED: server busy (.busy) or a request over its limits
├── NotFound             NOT_FOUND: unknown backend or name
├── Unauthenticated      UNAUTHENTICATED / PERMISSION_DENIED: missing or wrong token
├── DeadlineExceeded     DEADLINE_EXCEEDED
├── Cancelled            CANCELLED
└── ServerError          anything else (ABORTED: the solver process died; INTERNAL)
"""

from __future__ import annotations

from collections.abc import Callable

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from prunecert_client._connection import diagnose, refusal_elsewhere
from prunecert_client._types import Tls


class ClientError(Exception):
    """Base of every error the client raises; .code is the gRPC status code."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None, violations=None):
        super().__init__(message)
        self.code = code
        self.violations: list[tuple[str, str]] = list(violations or [])


class ConnectionFailed(ClientError):
    """No connection to the server. ``hint`` (or "") names the setting that fixes the cause."""

    def __init__(self, message: str, code=None, violations=None, hint: str = ""):
        super().__init__(f"{message}; hint: {hint}" if hint else message, code, violations)
        self.hint = hint


class TlsHandshakeFailed(ConnectionFailed):
    """The TLS handshake failed: an untrusted certificate, one naming another host, or TLS on
    one side only."""


class InvalidRequest(ClientError):
    pass


class ResourceExhausted(ClientError):
    @property
    def busy(self) -> bool:
        """The server refused for its load (every slot busy, its queue full), which passes:
        worth retrying (Client's wait_seconds). A refusal naming fields is about the request (a
        problem over a size limit, a caller over its stream budget) and is not retried."""
        return not self.violations


class NotFound(ClientError):
    pass


class Unauthenticated(ClientError):
    pass


class DeadlineExceeded(ClientError):
    pass


class Cancelled(ClientError):
    pass


class ServerError(ClientError):
    pass


_BY_CODE = {
    grpc.StatusCode.UNAVAILABLE: ConnectionFailed,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequest,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: Unauthenticated,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
}


def field_violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    """The google.rpc.BadRequest field violations carried by a failed call."""
    status = rpc_status.from_call(error)
    out: list[tuple[str, str]] = []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out += [(v.field, v.description) for v in bad.field_violations]
    return out


def from_rpc_error(
    error: grpc.RpcError,
    address: str | None = None,
    tls: Tls | None = None,
    failure_at: Callable[[str], str | None] | None = None,
) -> ClientError:
    """The ClientError for a failed call, with its field violations; an UNAVAILABLE of a known
    cause says it and what to change, given the call's ``address`` and ``tls`` (None:
    plaintext). A refusal is looked into address by address with ``failure_at`` (see
    prunecert_client._connection.refusal_elsewhere)."""
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else str(error)
    if code == grpc.StatusCode.UNAVAILABLE and address is not None:
        found = diagnose(details or "", address, tls)
        if found is not None and found.refused and failure_at is not None:
            found = refusal_elsewhere(address, tls, failure_at) or found
        if found is not None:
            cls = TlsHandshakeFailed if found.tls_handshake else ConnectionFailed
            return cls(f"cannot connect to {address}: {found.message}", code, hint=found.hint)
    cls = _BY_CODE.get(code, ServerError)
    violations = field_violations(error) if isinstance(error, grpc.Call) else []
    return cls(details or str(code), code, violations)
