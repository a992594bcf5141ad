"""The standard ``grpc.health.v1.Health`` service, without the lock-held send (issue 15).

grpcio-health-checking 1.81's servicer sends Watch's first reply while holding its lock; the
send waits for the server's polling thread, and that thread runs other calls' close callbacks,
which take the same lock. A storm of short Watch calls therefore froze the whole server (every
RPC, and SIGTERM). No release within our grpcio pin (1.81) fixes it, so this one follows one
rule: no lock is held by anyone who waits on gRPC, and the polling thread never waits on a
send.

- ``_lock`` guards only the statuses and the set of watchers; nobody sends while holding it.
- Each watcher has its own send lock, so replies to one call never interleave; it is taken only
  by the Watch handler (first reply) and the notifier thread (changes), never by the polling
  thread. Every status carries a version, and a watcher drops anything older than what it sent,
  so a change that overtakes the first reply is not undone by it.
- ``set`` only records and queues: one notifier thread sends the changes in order, so a caller
  of ``set`` (e.g. the shutdown path) never waits on a slow or stuck client.
- The close callback (run on the polling thread) only unregisters the watcher.

Watch is non-blocking (grpc's ``experimental_non_blocking``): an open Watch holds no RPC thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

Send = Callable[[health_pb2.HealthCheckResponse], None]
UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


class _Watcher:
    def __init__(self, service: str, send: Send):
        self.service = service
        self._send = send
        self._lock = threading.Lock()
        self._sent_version = -1
        self.open = True

    def deliver(self, version: int, status: int) -> None:
        with self._lock:
            if not self.open or version <= self._sent_version:
                return
            self._sent_version = version
            try:
                self._send(health_pb2.HealthCheckResponse(status=status))
            except Exception:  # the call went away under us: nothing to tell it
                self.open = False


class HealthServicer(health_pb2_grpc.HealthServicer):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status: dict[str, tuple[int, int]] = {
            "": (0, health_pb2.HealthCheckResponse.SERVING)
        }
        self._version = 0
        self._watchers: set[_Watcher] = set()
        self._shutting_down = False
        self._changes: queue.SimpleQueue = queue.SimpleQueue()
        self._notifier = threading.Thread(
            target=self._notify, name="prunecert-health", daemon=True
        )
        self._notifier.start()

    def Check(self, request, context):
        with self._lock:
            entry = self._status.get(request.service)
        if entry is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=entry[1])

    def Watch(self, request, context, send_response_callback=None):
        service = request.service
        watcher = _Watcher(service, send_response_callback)
        with self._lock:
            version, status = self._status.get(service, (self._version, UNKNOWN))
            self._watchers.add(watcher)
        if not context.add_callback(lambda: self._forget(watcher)):
            self._forget(watcher)  # the call had already ended
            return
        watcher.deliver(version, status)  # outside self._lock (see the module docstring)

    # grpc's server calls Watch with send_response_callback and holds no thread for it.
    Watch.experimental_non_blocking = True  # type: ignore[attr-defined]
    Watch.experimental_thread_pool = None  # type: ignore[attr-defined]

    def _forget(self, watcher: _Watcher) -> None:
        watcher.open = False  # no watcher lock here: the polling thread must never wait
        with self._lock:
            self._watchers.discard(watcher)

    def set(self, service: str, status: int) -> None:
        with self._lock:
            if self._shutting_down:
                return
            self._set(service, status)

    def _set(self, service: str, status: int) -> None:
        """With ``self._lock`` held: record, then queue the sends for the notifier."""
        self._version += 1
        self._status[service] = (self._version, status)
        targets = [w for w in self._watchers if w.service == service]
        self._changes.put((targets, self._version, status))

    def enter_graceful_shutdown(self) -> None:
        """Every service NOT_SERVING, for good: later ``set`` calls are ignored."""
        with self._lock:
            if self._shutting_down:
                return
            for service in list(self._status):
                self._set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
            self._shutting_down = True

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every change queued so far has been sent (tests use it)."""
        done = threading.Event()
        self._changes.put(done)
        return done.wait(timeout)

    def _notify(self) -> None:
        while True:
            change = self._changes.get()
            if isinstance(change, threading.Event):
                change.set()
                continue
            targets, version, status = change
            for watcher in targets:
                watcher.deliver(version, status)
