"""What the server and the client must agree on beyond the proto: message size, the service's
name and how a bearer token travels. Both sides import these, so they cannot drift apart."""

from __future__ import annotations

from prunecert.v1 import service_pb2

# Largest request or reply; ServerInfo.max_message_bytes reports it to clients.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
# The gRPC channel and server options that apply it in both directions.
MESSAGE_SIZE_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
)

# "prunecert.v1.PruningSolver": health checks and retry policies name the service by it.
SERVICE_NAME: str = service_pb2.DESCRIPTOR.services_by_name["PruningSolver"].full_name

# A caller's token travels as this metadata entry: ("authorization", "Bearer <token>").
AUTHORIZATION_KEY = "authorization"
BEARER_PREFIX = "Bearer "

# `--wait` without a value, and the client's default budget for waiting out a busy server.
DEFAULT_WAIT_SECONDS = 300.0


def token_lines(text: str) -> list[str]:
    """The tokens of a token file, in order: its lines that are neither blank nor a `#` comment,
    stripped (the server's file holds many; a client takes the first)."""
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
