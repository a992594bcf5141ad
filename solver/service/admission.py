"""Admission control in front of every RPC (issue 15, items 3, 6 and 11).

One server interceptor, outermost, so it also covers calls that authentication then refuses:

- **Stream budget.** A streaming RPC (WatchJob, GetJobResults, SolveStream, server reflection)
  holds an RPC thread for as long as its client keeps it open or reads slowly. Streams get a
  budget of their own, in total and per tenant; beyond it a stream ends at once with
  RESOURCE_EXHAUSTED, so open streams can never take the threads that unary calls and health
  need (the server sizes its thread pool as solves + stream budget + UNARY_THREADS). Health's
  Watch is non-blocking (solver.service.health): it holds no thread and is not counted.
- **Request bytes in flight.** Every request message is counted, by its serialized size, from
  the moment it is received until its RPC ends; a request that would take the total past the
  cap is refused (RESOURCE_EXHAUSTED) before it is parsed, so a burst of large requests costs
  their raw bytes only. gRPC's own max_receive_message_length still bounds each message.
- **Receive slots.** gRPC holds a message in memory, whole, while it arrives and before anyone
  can see its size. Unary requests are therefore read as a request stream of one, at most
  RECEIVES at a time (health Check excepted: it must never wait), so that memory is at most
  RECEIVES times the largest message; the server also turns off gRPC's BDP probing, which
  would otherwise buffer requests nobody has asked to read yet. A stream refused by its budget
  is never read at all.
- **No undecodable request reaches gRPC's own error path.** grpcio 1.81 ends a streaming-request
  RPC whose message fails to parse with INTERNAL and then sends a second status when the
  handler returns; core never completes that second send, the call never leaves the server's
  books, and shutdown (SIGTERM) waits for it for ever (five malformed reflection requests were
  enough). Here the deserializer never fails: a message that does not parse reaches the
  handler as a marker and the call ends once, with INVALID_ARGUMENT.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from solver.core.errors import FieldViolation
from solver.service.auth import HEALTH_PREFIX, identity, owner_of
from solver.service.status import RpcError, to_status

# Threads kept for unary calls (info, jobs, health Check, immediate refusals) on top of one per
# solve slot and one per stream of the budget.
UNARY_THREADS = 8
# Unary requests read at once: gRPC holds each whole message in memory while it arrives, before
# anything can look at its size, so this times the largest message bounds that memory.
RECEIVES = 4
# How long a unary call waits for a receive slot before it is refused.
RECEIVE_WAIT_SECONDS = 5.0
# Releasing a request at least this large hands freed heap back to the OS (glibc malloc_trim):
# otherwise a burst of large requests leaves the server's RSS at its high-water mark.
TRIM_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class AdmissionLimits:
    max_streams: int
    max_streams_per_tenant: int
    max_request_bytes_in_flight: int

    def violations(self) -> list[FieldViolation]:
        """Each setting out of range, named as in ServerConfig with its `serve` flag."""
        bad = []
        if self.max_streams < 1:
            bad.append(FieldViolation("max_streams", "must be at least 1", "--max-streams"))
        if not 1 <= self.max_streams_per_tenant <= max(self.max_streams, 1):
            bad.append(
                FieldViolation(
                    "max_streams_per_tenant",
                    "must be at least 1 and at most max_streams",
                    "--max-streams-per-tenant",
                )
            )
        if self.max_request_bytes_in_flight < 1:
            bad.append(
                FieldViolation("max_request_bytes", "must be at least 1", "--max-request-bytes")
            )
        return bad


class _Undecodable:
    """What the deserializer returns for bytes that do not parse as the request type."""

    def __init__(self, type_name: str):
        self.type_name = type_name


class _OverBudget:
    """What the deserializer returns for a request refused for the bytes in flight."""

    def __init__(self, size: int, in_flight: int):
        self.size = size
        self.in_flight = in_flight


class _Admitted:
    """A parsed request and its share of the bytes in flight, returned when the RPC ends or,
    failing that, when this object is collected (so a call that never ran cannot leak it)."""

    def __init__(self, message, release: Callable[[], None]):
        self.message = message
        self.release = weakref.finalize(self, release)


def _trim_heap() -> None:
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018 (glibc only; absent elsewhere)
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _load_libc()


class Admission:
    """The counters behind the interceptor, thread-safe. Taking and returning a stream slot or
    request bytes never waits (the interceptor and the deserializer run on gRPC's polling
    thread, the releases in its callbacks); only ``receive_one`` waits, in an RPC thread."""

    def __init__(self, limits: AdmissionLimits):
        self.limits = limits
        self._lock = threading.Lock()
        self._streams: Counter[str] = Counter()
        self._bytes = 0
        self._receiving = threading.BoundedSemaphore(RECEIVES)

    # -- streams ----------------------------------------------------------------------------
    def open_stream(self, tenant: str) -> RpcError | None:
        """Take a stream slot for ``tenant``, or the refusal to end the call with."""
        with self._lock:
            total = sum(self._streams.values())
            if total >= self.limits.max_streams:
                return _exhausted(
                    "max_streams",
                    f"the server's {self.limits.max_streams} streams are all open; retry later",
                    "--max-streams",
                )
            if self._streams[tenant] >= self.limits.max_streams_per_tenant:
                return _exhausted(
                    "max_streams_per_tenant",
                    f"this caller already has {self.limits.max_streams_per_tenant} streams "
                    "open (the most one caller may); close one or retry later",
                    "--max-streams-per-tenant",
                )
            self._streams[tenant] += 1
            return None

    def close_stream(self, tenant: str) -> None:
        with self._lock:
            self._streams[tenant] -= 1
            if self._streams[tenant] <= 0:
                del self._streams[tenant]

    # -- bytes ------------------------------------------------------------------------------
    def deserializer(self, parse: Callable[[bytes], object] | None, type_name: str):
        def deserialize(data: bytes):
            size = len(data)
            with self._lock:
                if self._bytes + size > self.limits.max_request_bytes_in_flight:
                    return _OverBudget(size, self._bytes)
                self._bytes += size
            try:
                message = data if parse is None else parse(data)
            except Exception:  # any parse failure is the caller's: see the module docstring
                self._release_bytes(size)
                return _Undecodable(type_name)
            return _Admitted(message, lambda: self._release_bytes(size))

        return deserialize

    def _release_bytes(self, size: int) -> None:
        with self._lock:
            self._bytes -= size
        if size >= TRIM_BYTES:
            _trim_heap()

    def unwrap(self, argument, context: grpc.ServicerContext):
        """The request message, or the call ends with the refusal the deserializer recorded."""
        if isinstance(argument, _Admitted):
            # The callback holds the _Admitted, so its bytes count until the call ends.
            context.add_callback(lambda: argument.release())
            return argument.message
        if isinstance(argument, _OverBudget):
            error = _exhausted(
                "max_request_bytes_in_flight",
                f"this request ({argument.size} bytes) would take the requests being handled "
                f"past the server's {self.limits.max_request_bytes_in_flight} bytes (now "
                f"{argument.in_flight}); retry later",
                "--max-request-bytes",
            )
        else:
            error = RpcError(
                "INVALID_ARGUMENT",
                f"the request is not a valid {argument.type_name} message",
                [FieldViolation("request", "could not be decoded")],
            )
        context.abort_with_status(to_status(error))
        raise AssertionError("abort_with_status returned")  # pragma: no cover

    def requests(self, iterator, context):
        """A stream's requests: each counted while the handler holds it."""
        for argument in iterator:
            message = self.unwrap(argument, context)
            del argument  # so a message the handler drops stops counting (see _Admitted)
            yield message

    def receive_one(self, requests, context: grpc.ServicerContext):
        """The one request of a unary call, read under a receive slot (see the module
        docstring): a caller waits up to RECEIVE_WAIT_SECONDS for one, then is refused."""
        wait = RECEIVE_WAIT_SECONDS
        remaining = context.time_remaining()
        if remaining is not None:
            wait = max(0.0, min(wait, remaining))
        if not self._receiving.acquire(timeout=wait):
            context.abort_with_status(
                to_status(
                    _exhausted(
                        "request",
                        f"the server is already receiving {RECEIVES} requests; retry later",
                        None,
                    )
                )
            )
        try:
            argument = next(requests, None)
        finally:
            self._receiving.release()
        if argument is None:
            context.abort_with_status(
                to_status(
                    RpcError(
                        "INVALID_ARGUMENT",
                        "a unary call needs exactly one request message",
                        [FieldViolation("request", "missing")],
                    )
                )
            )
        return self.unwrap(argument, context)


def _exhausted(field: str, message: str, flag: str | None) -> RpcError:
    return RpcError("RESOURCE_EXHAUSTED", message, [FieldViolation(field, message, flag)])


class AdmissionInterceptor(grpc.ServerInterceptor):
    """Wraps every method handler with the checks above (see the module docstring)."""

    def __init__(self, admission: Admission, tokens: frozenset[str]):
        self.admission = admission
        self._tokens = tokens

    def _tenant(self, metadata) -> str:
        """The caller's tenant: the one parsed identity (solver.service.auth); every caller is
        one tenant on a server without tokens, and unidentified callers share one slot pool."""
        if not self._tokens:
            return ""
        token = identity(metadata, self._tokens)
        return owner_of(token) if token is not None else "unidentified"

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        tenant = self._tenant(handler_call_details.invocation_metadata)
        return self._wrap(handler, tenant, handler_call_details.method.startswith(HEALTH_PREFIX))

    def _wrap(
        self, handler: grpc.RpcMethodHandler, tenant: str, health: bool
    ) -> grpc.RpcMethodHandler:
        admission = self.admission
        parse = handler.request_deserializer
        type_name = getattr(getattr(parse, "__self__", None), "DESCRIPTOR", None)
        type_name = type_name.full_name if type_name is not None else "request"
        deserialize = admission.deserializer(parse, type_name)
        serialize = handler.response_serializer
        if handler.request_streaming:
            behavior = handler.stream_unary or handler.stream_stream
        else:
            behavior = handler.unary_unary or handler.unary_stream
        non_blocking = getattr(behavior, "experimental_non_blocking", False)

        if health and not handler.request_streaming and not handler.response_streaming:
            # Health Check never waits for a receive slot (its requests are a service name).
            def run_check(argument, context):
                return behavior(admission.unwrap(argument, context), context)

            return _handler_like(handler, run_check, deserialize, serialize)

        if non_blocking:  # holds no thread: the byte checks only

            def run_non_blocking(argument, context, send_response_callback=None):
                request = admission.unwrap(argument, context)
                return behavior(request, context, send_response_callback)

            run_non_blocking.experimental_non_blocking = True  # type: ignore[attr-defined]
            run_non_blocking.experimental_thread_pool = getattr(  # type: ignore[attr-defined]
                behavior, "experimental_thread_pool", None
            )
            return _handler_like(handler, run_non_blocking, deserialize, serialize)

        counted = handler.request_streaming or handler.response_streaming

        def open_or_refuse(context) -> None:
            """Take a stream slot for the call, returned when it ends; or end it refused."""
            refusal = admission.open_stream(tenant)
            if refusal is not None:
                context.abort_with_status(to_status(refusal))
            once = threading.Lock()

            def close() -> None:
                if once.acquire(blocking=False):
                    admission.close_stream(tenant)

            if not context.add_callback(close):  # the call has already ended
                close()

        if handler.request_streaming:

            def run_requests(requests, context):
                open_or_refuse(context)
                return behavior(admission.requests(requests, context), context)

        else:
            # A unary request, served as a request stream of one: gRPC reads a unary request
            # into memory before the handler runs, whatever its size; read this way, it is read
            # only once a receive slot is free (Admission.receive_one), and a refused stream is
            # never read at all.
            def run_requests(requests, context):
                if counted:
                    open_or_refuse(context)
                return behavior(admission.receive_one(requests, context), context)

        if handler.response_streaming:

            def run_requests_stream(requests, context):
                yield from run_requests(requests, context)

            return _handler_like(handler, run_requests_stream, deserialize, serialize, True)
        return _handler_like(handler, run_requests, deserialize, serialize, True)


def _handler_like(handler, behavior, deserialize, serialize, request_streaming: bool = False):
    """A handler for ``behavior`` with the response arity of ``handler``."""
    if request_streaming:
        make = (
            grpc.stream_stream_rpc_method_handler
            if handler.response_streaming
            else grpc.stream_unary_rpc_method_handler
        )
    elif handler.response_streaming:
        make = grpc.unary_stream_rpc_method_handler
    else:
        make = grpc.unary_unary_rpc_method_handler
    return make(behavior, request_deserializer=deserialize, response_serializer=serialize)
