"""The one mapping from errors to gRPC statuses, with rich error details.

An error's code is the ``grpc_status`` attribute of its class (solver.core.errors), looked up
through its MRO, so a renamed or subclassed error keeps its status; anything outside the
project's tree is INTERNAL. INVALID_ARGUMENT (and every other code) carries the error's field
violations as a ``google.rpc.BadRequest`` detail.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from solver.core.errors import FieldViolation, status_name, violations_of


def code_named(name: str) -> grpc.StatusCode:
    """The grpc.StatusCode member an error class names (KeyError for a misspelt name)."""
    return grpc.StatusCode[name]


def code_of(exc: BaseException) -> grpc.StatusCode:
    """The status code of any exception, from its class attribute."""
    return code_named(status_name(exc))


class RpcError(Exception):
    """Ends an RPC with a status: raised by the servicer for an error reduced to its status name,
    message and violations (e.g. one a worker process sent across its pipe)."""

    def __init__(
        self, status: str, message: str, violations: Sequence[FieldViolation] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.violations = list(violations)

    @classmethod
    def from_exception(cls, exc: BaseException) -> RpcError:
        return cls(status_name(exc), str(exc), violations_of(exc))

    @property
    def code(self) -> grpc.StatusCode:
        return code_named(self.status)


def to_status(error: RpcError) -> grpc.Status:
    status = status_pb2.Status(code=getattr(code_pb2, error.code.name), message=error.message)
    if error.violations:
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in error.violations
                ]
            )
        )
        status.details.append(detail)
    return rpc_status.to_status(status)
