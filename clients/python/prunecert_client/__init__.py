"""PruneCert's Python client: remote certified solves with the engine's dataclasses."""

from prunecert_client._client import (
    BackendInfo,
    BoundUpdate,
    CertifyResult,
    Client,
    Finished,
    Incumbent,
    LogLine,
    ServerInfo,
    SolveEvent,
    Tls,
)
from prunecert_client._exceptions import (
    Cancelled,
    ClientError,
    ConnectionFailed,
    DeadlineExceeded,
    InvalidRequest,
    NotFound,
    ResourceExhausted,
    ServerError,
    Unauthenticated,
)

__all__ = [
    "BackendInfo",
    "BoundUpdate",
    "Cancelled",
    "CertifyResult",
    "Client",
    "ClientError",
    "ConnectionFailed",
    "DeadlineExceeded",
    "Finished",
    "Incumbent",
    "InvalidRequest",
    "LogLine",
    "NotFound",
    "ResourceExhausted",
    "ServerError",
    "ServerInfo",
    "SolveEvent",
    "Tls",
    "Unauthenticated",
]
