"""The project's exceptions, one small tree; each class carries the gRPC status it maps to.

    PruneCertError                  INTERNAL            raised on purpose, but no more specific
    ├── InvalidProblemError         INVALID_ARGUMENT    a problem, parameter or setting is
    │   │                                               malformed; lists field violations
    │   ├── ProblemTooLargeError    RESOURCE_EXHAUSTED  a size exceeds a configured limit
    │   └── ConfigurationError      INVALID_ARGUMENT    a server setting is unsafe or inconsistent
    ├── UnrepresentableError        INVALID_ARGUMENT    the exact integer scaling cannot represent
    │                                                   the instance (docs/design.md §7)
    ├── BackendUnavailableError     NOT_FOUND           an unknown or uninstalled backend
    ├── JobNotFoundError            NOT_FOUND           no such job for this caller
    ├── JobsDisabledError           FAILED_PRECONDITION the server has no job store
    ├── PoolBusyError               RESOURCE_EXHAUSTED  every solver process is busy
    ├── WorkerCrashedError          ABORTED             the solver process died mid-solve
    ├── ClusterUnavailableError     UNAVAILABLE         the Dask job cluster cannot be reached
    │                                                   or went away mid-solve
    └── UnauthenticatedError        UNAUTHENTICATED     a missing or wrong bearer token

The status is a class attribute, ``grpc_status``, naming a ``grpc.StatusCode`` member (core does
not import grpc); subclasses inherit it, so renaming a class never changes its status. The
service, its worker processes and the CLI all read it through ``status_name``. The errors of the
service and job layers live here too, so that the whole tree (and the one status table) is in
one place and the CLI can catch every error of the project as ``PruneCertError``.

Time limits, infeasibility and cancellation are statuses of a result, never exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class FieldViolation:
    """One bad field: its path (e.g. ``network.hidden_weights``), what is wrong with it, and the
    CLI flag that sets it, when one does (e.g. ``--tolerance`` for ``parameters.tolerance``)."""

    field: str
    description: str
    flag: str | None = None

    def __str__(self) -> str:
        # The flag is left out: the field alone is what the service and the engine report; the
        # CLI adds the flag when it prints a violation.
        return f"{self.field}: {self.description}"


class PruneCertError(Exception):
    """Base of every error the project raises on purpose."""

    grpc_status: ClassVar[str] = "INTERNAL"


class InvalidProblemError(PruneCertError):
    """The problem (or the parameters) violate the contract; ``violations`` names each field."""

    grpc_status: ClassVar[str] = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation] | FieldViolation):
        if isinstance(violations, FieldViolation):
            violations = [violations]
        self.violations = list(violations)
        super().__init__("; ".join(str(v) for v in self.violations))


class ProblemTooLargeError(InvalidProblemError):
    """A size is over the configured limits."""

    grpc_status: ClassVar[str] = "RESOURCE_EXHAUSTED"


class ConfigurationError(InvalidProblemError):
    """A server setting is unsafe or inconsistent (e.g. a public address without tokens); each
    violation names the ServerConfig field and the ``prunecert serve`` flag that sets it."""


class UnrepresentableError(PruneCertError):
    """The fixed-point model cannot represent the instance within the requested tolerance."""

    # The caller can fix it by asking for a coarser tolerance: it is about the request.
    grpc_status: ClassVar[str] = "INVALID_ARGUMENT"


class BackendUnavailableError(PruneCertError):
    """The requested backend is unknown or its solver is not installed."""

    grpc_status: ClassVar[str] = "NOT_FOUND"


class JobNotFoundError(PruneCertError):
    """No such job for this caller (another caller's job is not found either)."""

    grpc_status: ClassVar[str] = "NOT_FOUND"


class JobsDisabledError(PruneCertError):
    """The server was started without a job store."""

    grpc_status: ClassVar[str] = "FAILED_PRECONDITION"


class PoolBusyError(PruneCertError):
    """Every solver process is busy; the server refuses rather than queue."""

    grpc_status: ClassVar[str] = "RESOURCE_EXHAUSTED"


class WorkerCrashedError(PruneCertError):
    """The solver process died while running a job."""

    grpc_status: ClassVar[str] = "ABORTED"


class ClusterUnavailableError(PruneCertError):
    """The Dask cluster a distributed solve runs on cannot be reached, or went away."""

    grpc_status: ClassVar[str] = "UNAVAILABLE"


class UnauthenticatedError(PruneCertError):
    """The call has no bearer token, or one the server does not know."""

    grpc_status: ClassVar[str] = "UNAUTHENTICATED"


def status_name(exc: BaseException) -> str:
    """The name of the ``grpc.StatusCode`` for ``exc``: the ``grpc_status`` its class inherits
    (the nearest on its MRO), INTERNAL for anything outside the tree (that is a bug)."""
    if isinstance(exc, PruneCertError):
        return type(exc).grpc_status
    return PruneCertError.grpc_status


def violations_of(exc: BaseException) -> list[FieldViolation]:
    """The field violations an error carries (none but InvalidProblemError's have any)."""
    return list(exc.violations) if isinstance(exc, InvalidProblemError) else []
