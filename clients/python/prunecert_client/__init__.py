"""PruneCert's Python client: remote certified solves with the core's dataclasses.

It depends on solver.core, solver.io and the generated prunecert.v1 only: installing or importing
it never loads the engine, the backends or the solvers.
"""

from prunecert_client._client import Client
from prunecert_client._exceptions import (
    Cancelled,
    ClientError,
    ConnectionFailed,
    DeadlineExceeded,
    InvalidRequest,
    NotFound,
    ResourceExhausted,
    ServerError,
    TlsHandshakeFailed,
    Unauthenticated,
)
from prunecert_client._types import (
    BackendInfo,
    BoundUpdate,
    CertifyResult,
    Finished,
    Incumbent,
    Job,
    JobCubes,
    JobEvent,
    JobItem,
    LogLine,
    ServerInfo,
    SolveEvent,
    Started,
    Tls,
)
from solver.io.wire import DEFAULT_WAIT_SECONDS

__all__ = [
    "BackendInfo",
    "BoundUpdate",
    "Cancelled",
    "CertifyResult",
    "Client",
    "ClientError",
    "ConnectionFailed",
    "DEFAULT_WAIT_SECONDS",
    "DeadlineExceeded",
    "Finished",
    "Incumbent",
    "InvalidRequest",
    "Job",
    "JobEvent",
    "JobCubes",
    "JobItem",
    "LogLine",
    "NotFound",
    "ResourceExhausted",
    "ServerError",
    "ServerInfo",
    "SolveEvent",
    "Started",
    "Tls",
    "TlsHandshakeFailed",
    "Unauthenticated",
]
