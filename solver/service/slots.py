"""The solver slots: the free worker processes and the calls waiting for one (issue 13, item 6).

A call that finds every worker busy waits in a bounded queue instead of being refused at once:

- **Bounded.** At most ``queue_limit`` calls wait at once; the next one is refused at once. A
  waiting call holds an RPC thread, so the server sizes its thread pool for running solves plus
  this many waiting ones plus its other budgets (solver.service.server), and health and
  GetServerInfo still find a thread with the queue full.
- **Time-limited.** A call waits at most its own ``limit`` (the server's queue wait limit, cut
  short before the call's own deadline by the servicer); then it is refused.
- **First come, first served.** A freed worker is handed straight to the call that has waited
  longest, never left in the free list for a newcomer to take.
- **Cancellable.** A waiting call whose client cancels or goes away leaves its place within
  POLL_SECONDS; a worker handed to it in that instant goes on to the next call.

Refusals are QueueRefusal, a PoolBusyError (RESOURCE_EXHAUSTED) saying why (the servicer words
the message the client sees). Every call that asks for a slot is reported to ``observer``
(outcome, seconds waited) when it has one or leaves, for the server's metrics.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from solver.core.errors import PoolBusyError

T = TypeVar("T")

# How often a waiting call checks whether its client is still there.
POLL_SECONDS = 0.02
# Waits of the last this many calls served make the "recent" mean.
RECENT_CALLS = 100

# What happened to a call that asked for a slot (the observer's first argument).
SERVED = "served"  # got a worker, at once or after waiting
FULL = "full"  # refused at once: every worker busy and the queue full (or no queue)
TIMED_OUT = "timed_out"  # refused after waiting its limit
CANCELLED = "cancelled"  # its client cancelled or went away while it waited
OUTCOMES = (SERVED, FULL, TIMED_OUT, CANCELLED)

Observer = Callable[[str, float], None]


class QueueRefusal(PoolBusyError):
    """Refused a solver slot: ``reason`` is FULL or TIMED_OUT, ``waited`` the seconds waited."""

    def __init__(self, message: str, reason: str, waited: float):
        super().__init__(message)
        self.reason = reason
        self.waited = waited


@dataclass
class _Waiter(Generic[T]):
    ready: threading.Event = field(default_factory=threading.Event)
    worker: T | None = None


@dataclass(frozen=True)
class QueueFigures:
    """The queue now and its waits so far (GetServerInfo's figures)."""

    free: int
    queued: int
    mean_wait_seconds: float  # over every call served, those served at once counting 0
    recent_wait_seconds: float  # the same over the last RECENT_CALLS calls served
    refusals: int  # refused for a full queue or a wait that ran out


class SlotQueue(Generic[T]):
    """Free workers and the FIFO of calls waiting for one; thread-safe."""

    def __init__(self, queue_limit: int, observer: Observer | None = None):
        self.queue_limit = queue_limit
        self._observer = observer
        self._lock = threading.Lock()
        self._free: deque[T] = deque()
        self._waiting: deque[_Waiter[T]] = deque()
        self._served = 0
        self._waited_total = 0.0
        self._recent: deque[float] = deque(maxlen=RECENT_CALLS)
        self._refusals = 0

    def put(self, worker: T) -> None:
        """A worker is free: to the call that has waited longest, else to the free list."""
        with self._lock:
            if self._waiting:
                waiter = self._waiting.popleft()
                waiter.worker = worker
                waiter.ready.set()
            else:
                self._free.append(worker)

    def take(self, limit: float, cancelled: Callable[[], bool]) -> tuple[T, float] | None:
        """(a free worker, seconds waited for it), waiting up to ``limit`` seconds in turn; None
        if ``cancelled()`` turned true while waiting. QueueRefusal (FULL) at once when every
        worker is busy and the queue is full, or there is none (``limit`` <= 0 or queue_limit
        0); QueueRefusal (TIMED_OUT) when the wait ran out."""
        start = time.monotonic()
        waiter: _Waiter[T] | None = None
        with self._lock:
            if self._free:  # then nobody waits: put() serves waiting calls first
                worker = self._free.popleft()
                self._record_served(0.0)
            elif limit <= 0 or len(self._waiting) >= self.queue_limit:
                self._refusals += 1
                worker = None
            else:
                waiter = _Waiter()
                self._waiting.append(waiter)
        if waiter is not None:
            return self._wait(waiter, start, limit, cancelled)
        if worker is None:
            self._observe(FULL, 0.0)
            raise QueueRefusal("every solver process is busy and the queue is full", FULL, 0.0)
        self._observe(SERVED, 0.0)
        return worker, 0.0

    def _wait(
        self, waiter: _Waiter[T], start: float, limit: float, cancelled: Callable[[], bool]
    ) -> tuple[T, float] | None:
        gone = False
        while not waiter.ready.wait(POLL_SECONDS):
            gone = cancelled()
            if gone or time.monotonic() - start >= limit:
                with self._lock:
                    if waiter.worker is None:  # not served meanwhile: leave the queue
                        self._waiting.remove(waiter)
                        if not gone:
                            self._refusals += 1
                break
        waited = time.monotonic() - start
        worker = waiter.worker
        if worker is None:
            if gone:
                self._observe(CANCELLED, waited)
                return None
            self._observe(TIMED_OUT, waited)
            raise QueueRefusal(
                f"waited {waited:.1f} s for a solver process without a turn", TIMED_OUT, waited
            )
        if gone or cancelled():  # handed a worker as its client left: the next call gets it
            self.put(worker)
            self._observe(CANCELLED, waited)
            return None
        with self._lock:
            self._record_served(waited)
        self._observe(SERVED, waited)
        return worker, waited

    def _record_served(self, waited: float) -> None:
        self._served += 1
        self._waited_total += waited
        self._recent.append(waited)

    def _observe(self, outcome: str, waited: float) -> None:
        if self._observer is not None:
            self._observer(outcome, waited)

    def free(self) -> int:
        with self._lock:
            return len(self._free)

    def queued(self) -> int:
        with self._lock:
            return len(self._waiting)

    def figures(self) -> QueueFigures:
        with self._lock:
            recent = sum(self._recent) / len(self._recent) if self._recent else 0.0
            mean = self._waited_total / self._served if self._served else 0.0
            return QueueFigures(len(self._free), len(self._waiting), mean, recent, self._refusals)
