"""The one table from engine and pool errors to gRPC status codes, with rich error details."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

# Exception (class name, as carried from a worker) -> gRPC code.
STATUS_OF_ERROR: dict[str, grpc.StatusCode] = {
    "InvalidProblemError": grpc.StatusCode.INVALID_ARGUMENT,
    "ProblemTooLargeError": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "UnrepresentableError": grpc.StatusCode.INVALID_ARGUMENT,
    "BackendUnavailableError": grpc.StatusCode.NOT_FOUND,
    "PoolBusy": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "WorkerCrashed": grpc.StatusCode.ABORTED,
    "Unauthenticated": grpc.StatusCode.UNAUTHENTICATED,
    "JobNotFound": grpc.StatusCode.NOT_FOUND,
    "JobsDisabled": grpc.StatusCode.FAILED_PRECONDITION,
}


class RpcError(Exception):
    """Raised inside the servicer to end an RPC with a status (and field violations)."""

    def __init__(self, kind: str, message: str, violations: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.violations = violations or []

    @property
    def code(self) -> grpc.StatusCode:
        return STATUS_OF_ERROR.get(self.kind, grpc.StatusCode.INTERNAL)


def to_status(error: RpcError) -> grpc.Status:
    code = error.code
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=error.message)
    if error.violations:
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                    for f, d in error.violations
                ]
            )
        )
        status.details.append(detail)
    return rpc_status.to_status(status)
