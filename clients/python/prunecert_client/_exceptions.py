"""The client's exceptions, one per gRPC status a caller can act on.

ClientError
├── ConnectionFailed     UNAVAILABLE (after the automatic retries)
├── InvalidRequest       INVALID_ARGUMENT; .violations lists (field, description)
├── ResourceExhausted    RESOURCE_EXHAUSTED: server busy or problem over its size limits
├── NotFound             NOT_FOUND: unknown backend or name
├── Unauthenticated      UNAUTHENTICATED / PERMISSION_DENIED: missing or wrong token
├── DeadlineExceeded     DEADLINE_EXCEEDED
├── Cancelled            CANCELLED
└── ServerError          anything else (ABORTED: the solver process died; INTERNAL)
"""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


class ClientError(Exception):
    """Base of every error the client raises; .code is the gRPC status code."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None, violations=None):
        super().__init__(message)
        self.code = code
        self.violations: list[tuple[str, str]] = list(violations or [])


class ConnectionFailed(ClientError):
    pass


class InvalidRequest(ClientError):
    pass


class ResourceExhausted(ClientError):
    pass


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


def from_rpc_error(error: grpc.RpcError) -> ClientError:
    """The ClientError for a failed call, with its field violations."""
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else str(error)
    cls = _BY_CODE.get(code, ServerError)
    violations = field_violations(error) if isinstance(error, grpc.Call) else []
    return cls(details or str(code), code, violations)
