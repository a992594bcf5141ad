"""Bearer-token authentication for every RPC except the standard health service."""

from __future__ import annotations

import hmac
from pathlib import Path

import grpc

from solver.core.errors import ConfigurationError, FieldViolation, UnauthenticatedError
from solver.io.wire import AUTHORIZATION_KEY, BEARER_PREFIX
from solver.service.status import code_of

HEALTH_PREFIX = "/grpc.health.v1.Health/"


def read_tokens(path: str | Path) -> frozenset[str]:
    """One token per line; blank lines and lines starting with # are ignored.

    A file that cannot be read, or holds no token, is a ConfigurationError naming the
    ``tokens`` setting and its ``--tokens-file`` flag.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(FieldViolation("tokens", str(exc), "--tokens-file")) from exc
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            FieldViolation("tokens", f"{path}: not UTF-8 text", "--tokens-file")
        ) from exc
    tokens = {
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    }
    if not tokens:
        raise ConfigurationError(
            FieldViolation("tokens", f"{path}: no tokens (one per line)", "--tokens-file")
        )
    return frozenset(tokens)


def _deny(message: str):
    code = code_of(UnauthenticatedError(message))

    def abort(request_or_iterator, context):
        context.abort(code, message)

    return abort


class TokenInterceptor(grpc.ServerInterceptor):
    def __init__(self, tokens: frozenset[str]):
        self._tokens = tokens

    def _valid(self, header: str | None) -> bool:
        if not header or not header.startswith(BEARER_PREFIX):
            return False
        given = header[len(BEARER_PREFIX) :].strip().encode()
        # Constant-time comparison against every token.
        return any(hmac.compare_digest(given, t.encode()) for t in self._tokens)

    def intercept_service(self, continuation, handler_call_details):
        if handler_call_details.method.startswith(HEALTH_PREFIX):
            return continuation(handler_call_details)
        metadata = dict(handler_call_details.invocation_metadata or ())
        header = metadata.get(AUTHORIZATION_KEY)
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
            return grpc.stream_unary_rpc_method_handler(_deny(message))
        return grpc.stream_stream_rpc_method_handler(_deny(message))
