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
- **Slow senders (slow loris).** A slot is held while the request arrives, so clients that
  open unary calls and send their request slowly, or never, could hold every slot and make
  every other unary call wait RECEIVE_WAIT_SECONDS and fail (issue 15). So: a caller that
  authentication will refuse (tokens configured, none valid) is refused unread; one
  connection holds at most RECEIVES_PER_CONNECTION slots and, with tokens, one tenant at most
  RECEIVES_PER_TENANT, so neither one connection nor one tenant can take them all; a request
  that has not arrived whole ``receive_timeout`` seconds after its slot was granted is
  cancelled (ReceiveWatch), which frees the slot; and while another call waits for a slot,
  holders that have been receiving for RECEIVE_PATIENCE_SECONDS are cancelled at once (a
  quick request arrives in well under that on any link that can carry it; a large one on a
  slow link may be cancelled under contention, and its client sees CANCELLED). Connection-level limits (streams per
  connection, idle and age limits, keepalive enforcement) are gRPC server options
  (solver.service.server).
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
import itertools
import logging
import math
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from solver.core.errors import FieldViolation
from solver.service.auth import HEALTH_PREFIX, identity, owner_of
from solver.service.status import RpcError, to_status

log = logging.getLogger("prunecert.admission")

# Threads kept for unary calls (info, jobs, health Check, immediate refusals) on top of one per
# solve slot and one per stream of the budget.
UNARY_THREADS = 8
# Unary requests read at once: gRPC holds each whole message in memory while it arrives, before
# anything can look at its size, so this times the largest message bounds that memory.
RECEIVES = 4
# How long a unary call waits for a receive slot before it is refused.
RECEIVE_WAIT_SECONDS = 5.0
# Receive slots one connection, and (with tokens) one tenant, may hold at once.
RECEIVES_PER_CONNECTION = 2
RECEIVES_PER_TENANT = 2
# A request not received whole this long after its slot was granted is cancelled (a 256 MiB
# request at 100 Mbit/s takes about 21 s).
DEFAULT_RECEIVE_TIMEOUT_SECONDS = 30.0
# When a call waits for a receive slot that every slot's holder keeps, holders that have been
# receiving for this long are cancelled (the oldest first): their requests come slowly or not
# at all, and quick requests must not wait behind them for the whole receive timeout.
RECEIVE_PATIENCE_SECONDS = 2.0
# How often ReceiveWatch looks for overdue receives.
RECEIVE_WATCH_SECONDS = 0.1
# Releasing a request at least this large hands freed heap back to the OS (glibc malloc_trim):
# otherwise a burst of large requests leaves the server's RSS at its high-water mark.
TRIM_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class AdmissionLimits:
    max_streams: int
    max_streams_per_tenant: int
    max_request_bytes_in_flight: int
    receive_timeout_seconds: float = DEFAULT_RECEIVE_TIMEOUT_SECONDS

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
        timeout = self.receive_timeout_seconds
        if not (timeout > 0 and math.isfinite(timeout)):
            bad.append(
                FieldViolation(
                    "receive_timeout_seconds", "must be a finite number > 0", "--receive-timeout"
                )
            )
        return bad


class ReceiveWatch:
    """Cancels the calls whose request has not arrived by its deadline, or within
    RECEIVE_PATIENCE_SECONDS while ``contended()`` (a call waits for a receive slot): one
    thread, started with the first receive, for at most RECEIVES receives at a time."""

    def __init__(self, contended: Callable[[], bool] = lambda: False) -> None:
        self._lock = threading.Lock()
        # key -> (started, due, cancel)
        self._due: dict[int, tuple[float, float, Callable[[], None]]] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._contended = contended

    def watch(self, seconds: float, cancel: Callable[[], None]) -> int:
        with self._lock:
            key = next(self._ids)
            now = time.monotonic()
            self._due[key] = (now, now + seconds, cancel)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="prunecert-receive-watch", daemon=True
                )
                self._thread.start()
        return key

    def done(self, key: int) -> bool:
        """Stop watching; False if the call was cancelled as overdue."""
        with self._lock:
            return self._due.pop(key, None) is not None

    def _run(self) -> None:
        while True:
            time.sleep(RECEIVE_WATCH_SECONDS)
            now = time.monotonic()
            contended = self._contended()
            with self._lock:
                overdue = [
                    key
                    for key, (started, due, _) in self._due.items()
                    if due <= now or (contended and now - started >= RECEIVE_PATIENCE_SECONDS)
                ]
                cancels = [self._due.pop(key)[2] for key in overdue]
            for cancel in cancels:
                cancel()


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
        self._receive_slots = threading.Condition()
        self._receiving = 0  # slots held
        self._receiving_by: Counter[tuple[str, str]] = Counter()  # held per connection, tenant
        self._receive_queue: list[list[tuple[str, str]]] = []  # the waiting callers' keys
        self.receive_watch = ReceiveWatch(self._contended)

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

    def _under_caps(self, keys: list[tuple[str, str]]) -> bool:
        return all(self._receiving_by[key] < _RECEIVE_CAPS[key[0]] for key in keys)

    def _take_receive_slot(self, keys: list[tuple[str, str]], wait: float) -> bool:
        """A receive slot, waiting up to ``wait`` seconds for one that none of ``keys`` (the
        caller's connection and tenant) is already at its cap on; False if none came.

        Fair among connections (``_my_turn``): a call held back by its own connection's or
        tenant's cap lets others pass, and a connection holding slots yields the next one to
        a connection holding fewer."""
        deadline = time.monotonic() + wait
        with self._receive_slots:
            self._receive_queue.append(keys)
            try:
                while not self._my_turn(keys):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._receive_slots.wait(min(left, RECEIVE_WATCH_SECONDS))
            finally:
                # By identity: callers on one connection have equal keys.
                index = next(i for i, w in enumerate(self._receive_queue) if w is keys)
                del self._receive_queue[index]
                self._receive_slots.notify_all()
            self._receiving += 1
            for key in keys:
                self._receiving_by[key] += 1
            return True

    def _my_turn(self, keys: list[tuple[str, str]]) -> bool:
        """Whether the waiting caller ``keys`` (its own list object) takes the next free slot:
        among the waiting callers whose caps allow one, the one whose connection holds the
        fewest slots, the longest waiting first among equals. A connection cannot get ahead
        by keeping calls waiting: each of its held slots puts its callers behind everyone
        else's."""
        if self._receiving >= RECEIVES:
            return False
        eligible = [
            (self._receiving_by[waiting[0]], index, waiting)
            for index, waiting in enumerate(self._receive_queue)
            if self._under_caps(waiting)
        ]
        return bool(eligible) and min(eligible, key=lambda e: e[:2])[2] is keys

    def _contended(self) -> bool:
        """Whether a caller waits that only the total keeps from a slot (one held back by its
        own connection's or tenant's cap makes no one else's call be cancelled)."""
        with self._receive_slots:
            return any(self._under_caps(keys) for keys in self._receive_queue)

    def _return_receive_slot(self, keys: list[tuple[str, str]]) -> None:
        with self._receive_slots:
            self._receiving -= 1
            for key in keys:
                self._receiving_by[key] -= 1
                if self._receiving_by[key] <= 0:
                    del self._receiving_by[key]
            self._receive_slots.notify_all()

    def receive_one(self, requests, context: grpc.ServicerContext, tenant: str | None = None):
        """The one request of a unary call, read under a receive slot (see the module
        docstring): a caller waits up to RECEIVE_WAIT_SECONDS for one, then is refused; a
        request not received whole within the receive timeout cancels its call. ``tenant``:
        the caller's, on a server with tokens (None without)."""
        wait = RECEIVE_WAIT_SECONDS
        remaining = context.time_remaining()
        if remaining is not None:
            wait = max(0.0, min(wait, remaining))
        keys = [("connection", context.peer())]
        if tenant is not None:
            keys.append(("tenant", tenant))
        if not self._take_receive_slot(keys, wait):
            context.abort_with_status(
                to_status(
                    _exhausted(
                        "request",
                        f"the server is already receiving {RECEIVES} requests (at most "
                        f"{RECEIVES_PER_CONNECTION} per connection); retry later",
                        None,
                    )
                )
            )
        watched = self.receive_watch.watch(self.limits.receive_timeout_seconds, context.cancel)
        try:
            argument = next(requests, None)
        finally:
            self._return_receive_slot(keys)
            if not self.receive_watch.done(watched):  # the client hears CANCELLED
                log.info(
                    "cancelled a call whose request did not arrive within %g s (%s)",
                    self.limits.receive_timeout_seconds,
                    context.peer(),
                )
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


_RECEIVE_CAPS = {"connection": RECEIVES_PER_CONNECTION, "tenant": RECEIVES_PER_TENANT}


def _exhausted(field: str, message: str, flag: str | None) -> RpcError:
    return RpcError("RESOURCE_EXHAUSTED", message, [FieldViolation(field, message, flag)])


class AdmissionInterceptor(grpc.ServerInterceptor):
    """Wraps every method handler with the checks above (see the module docstring)."""

    def __init__(self, admission: Admission, tokens: frozenset[str]):
        self.admission = admission
        self._tokens = tokens

    def _tenant(self, metadata) -> str | None:
        """The caller's tenant: the one parsed identity (solver.service.auth); every caller is
        one tenant on a server without tokens, and unidentified callers share one slot pool."""
        if not self._tokens:
            return ""
        token = identity(metadata, self._tokens)
        return owner_of(token) if token is not None else None

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        tenant = self._tenant(handler_call_details.invocation_metadata)
        health = handler_call_details.method.startswith(HEALTH_PREFIX)
        if tenant is None and not health:
            # Authentication (the next interceptor) refuses this call without looking at its
            # request, so it is not read at all: no receive slot, no stream slot.
            return _unread(handler)
        return self._wrap(handler, "unidentified" if tenant is None else tenant, health)

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
        receive_tenant = tenant if self._tokens else None

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
                request = admission.receive_one(requests, context, receive_tenant)
                return behavior(request, context)

        if handler.response_streaming:

            def run_requests_stream(requests, context):
                yield from run_requests(requests, context)

            return _handler_like(handler, run_requests_stream, deserialize, serialize, True)
        return _handler_like(handler, run_requests, deserialize, serialize, True)


def _unread(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """``handler`` (authentication's refusal) called without reading the request."""
    if handler.request_streaming:
        behavior = handler.stream_unary or handler.stream_stream
    else:
        behavior = handler.unary_unary or handler.unary_stream

    def refuse(requests, context):
        return behavior(None, context)

    if handler.response_streaming:

        def refuse_stream(requests, context):
            yield from refuse(requests, context) or ()

        return _handler_like(handler, refuse_stream, None, handler.response_serializer, True)
    return _handler_like(handler, refuse, None, handler.response_serializer, True)


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
