"""Bearer-token authentication for every RPC except the standard health service."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import grpc

from solver.core.errors import ConfigurationError, FieldViolation, UnauthenticatedError
from solver.io.wire import AUTHORIZATION_KEY, BEARER_PREFIX, token_lines
from solver.service.status import code_of

HEALTH_PREFIX = "/grpc.health.v1.Health/"


def read_tokens(path: str | Path) -> frozenset[str]:
    """One token per line; blank lines and lines starting with # are ignored.

    A file that cannot be read, or holds no token, is a ConfigurationError naming the
    ``tokens`` setting and its ``--token-file`` flag (old name --tokens-file).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(FieldViolation("tokens", str(exc), "--token-file")) from exc
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            FieldViolation("tokens", f"{path}: not UTF-8 text", "--token-file")
        ) from exc
    tokens = set(token_lines(text))
    if not tokens:
        raise ConfigurationError(
            FieldViolation("tokens", f"{path}: no tokens (one per line)", "--token-file")
        )
    return frozenset(tokens)


def _deny(message: str):
    code = code_of(UnauthenticatedError(message))

    def abort(request_or_iterator, context):
        context.abort(code, message)

    return abort


def identity(metadata, tokens: frozenset[str]) -> str | None:
    """The configured token a call presents, or None: THE parse of the ``authorization``
    header, used by authentication and by tenancy alike (issue 15), so the two can never read
    different headers or different spellings of one token.

    Exactly one ``authorization`` header, ``Bearer`` then the token; whitespace around the
    token is ignored, so "Bearer  tokA" is tokA for both. Several headers are ambiguous (which
    would own the job?) and identify nobody. The token is compared in constant time against
    every configured one, and the configured spelling is returned.
    """
    headers = [value for key, value in metadata or () if key == AUTHORIZATION_KEY]
    if len(headers) != 1 or not isinstance(headers[0], str):
        return None
    header = headers[0]
    if not header.startswith(BEARER_PREFIX):
        return None
    given = header[len(BEARER_PREFIX) :].strip().encode()
    found = None
    for token in tokens:  # no early exit: the time taken does not depend on which one matched
        if hmac.compare_digest(given, token.encode()):
            found = token
    return found


def owner_of(token: str | None) -> str:
    """The owner of a caller's jobs: a hash of its identified token ("" without tokens), in
    its canonical header form, which is what stores written before issue 15 hashed."""
    return hashlib.sha256(f"{BEARER_PREFIX}{token}".encode()).hexdigest() if token else ""


def _refusal(metadata) -> str:
    headers = [value for key, value in metadata or () if key == AUTHORIZATION_KEY]
    if not headers:
        return "missing bearer token"
    if len(headers) > 1:
        return "more than one authorization header"
    return "invalid bearer token"


class TokenInterceptor(grpc.ServerInterceptor):
    def __init__(self, tokens: frozenset[str]):
        self._tokens = tokens

    def intercept_service(self, continuation, handler_call_details):
        if handler_call_details.method.startswith(HEALTH_PREFIX):
            return continuation(handler_call_details)
        metadata = handler_call_details.invocation_metadata
        if identity(metadata, self._tokens) is not None:
            return continuation(handler_call_details)
        message = _refusal(metadata)
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
