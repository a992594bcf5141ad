"""Bearer-token authentication for every RPC except the standard health service."""

from __future__ import annotations

import hmac
from pathlib import Path

import grpc

HEALTH_PREFIX = "/grpc.health.v1.Health/"


def read_tokens(path: str | Path) -> frozenset[str]:
    """One token per line; blank lines and lines starting with # are ignored."""
    tokens = {
        line.strip()
        for line in Path(path).read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    }
    if not tokens:
        raise ValueError(f"{path}: no tokens (one per line)")
    return frozenset(tokens)


def _deny(message: str):
    def abort(request, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return abort


class TokenInterceptor(grpc.ServerInterceptor):
    def __init__(self, tokens: frozenset[str]):
        self._tokens = tokens

    def _valid(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        given = header[len("Bearer ") :].strip().encode()
        # Constant-time comparison against every token.
        return any(hmac.compare_digest(given, t.encode()) for t in self._tokens)

    def intercept_service(self, continuation, handler_call_details):
        if handler_call_details.method.startswith(HEALTH_PREFIX):
            return continuation(handler_call_details)
        metadata = dict(handler_call_details.invocation_metadata or ())
        header = metadata.get("authorization")
        if self._valid(header):
            return continuation(handler_call_details)
        message = "missing bearer token" if not header else "invalid bearer token"
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(_deny(message))
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(_deny(message))
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                lambda it, ctx: ctx.abort(grpc.StatusCode.UNAUTHENTICATED, message)
            )
        return grpc.stream_stream_rpc_method_handler(
            lambda it, ctx: ctx.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        )
