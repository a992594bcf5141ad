"""A fixed pool of solver processes, started (spawn) before the server accepts RPCs.

Solves never run in an RPC thread: a solve that crashes or hangs takes down only its worker,
which is replaced. One worker serves one RPC at a time; when none is free the RPC waits its
turn in a bounded, first-come-first-served queue (solver.service.slots), or is refused when the
queue is full or its wait runs out: the server never queues unboundedly. Cancellation is a
message on the worker's control pipe; a worker that has not answered within
CANCEL_GRACE_SECONDS is killed and replaced.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import resource
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from solver.core.errors import (
    FieldViolation,
    WorkerCrashedError,
    status_name,
    violations_of,
)
from solver.core.validate import Limits
from solver.service.slots import Observer, SlotQueue

log = logging.getLogger("prunecert.workers")

CANCEL_GRACE_SECONDS = 1.0
# A solve gets its time limit plus this before the server stops waiting for it (issue 15): the
# limit does not cover model building or certification, so the margin is generous; a worker
# that has not answered by then, nor within CANCEL_GRACE_SECONDS of a cancel, is replaced.
DEADLINE_MARGIN_SECONDS = 30.0
# A worker whose peak memory passes this is replaced after its job, returning the memory.
RECYCLE_MAXRSS_KIB = 2 * 1024 * 1024


@dataclass(frozen=True)
class WorkerError:
    """An exception raised in a worker, as plain data for the pipe: the name of the gRPC status
    its class carries (solver.core.errors), its message and its field violations. The class
    itself never crosses, so the servicer's mapping cannot depend on its name."""

    status: str
    message: str
    violations: tuple[FieldViolation, ...] = ()

    @classmethod
    def from_exception(cls, exc: BaseException) -> WorkerError:
        return cls(status_name(exc), str(exc), tuple(violations_of(exc)))


def _listen_for_cancel(control, current: list[int], stop: threading.Event) -> None:
    """Worker side: a "cancel" for the job running now sets its stop event."""
    while True:
        try:
            message = control.recv()
        except (EOFError, OSError):
            return
        if message == ("cancel", current[0]):
            stop.set()


def _worker_main(conn, control, limits: Limits) -> None:
    """The worker process: run jobs until told to exit. Cancellation arrives as a message on
    its own pipe (a shared multiprocessing.Event can deadlock the server when a worker dies or
    is stopped while waiting on it)."""
    from prunecert.v1 import service_pb2
    from solver.service import jobs

    current = [-1]
    stop = threading.Event()
    threading.Thread(target=_listen_for_cancel, args=(control, current, stop), daemon=True).start()
    conn.send(("ready",))  # imports done: the pool starts serving only after this
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job[0] == "exit":
            return
        # ``options``: what the server adds to the request (the job cluster's Dask scheduler for
        # a distributed solve); absent from jobs sent before it existed.
        number, kind, payload, time_limit, stream, *rest = job
        options = rest[0] if rest else {}
        stop.clear()
        current[0] = number
        try:
            if kind == "solve":
                request = service_pb2.SolveRequest.FromString(payload)

                def emit(event) -> None:
                    conn.send(("event", event.SerializeToString()))

                reply = jobs.run_solve(
                    request,
                    time_limit,
                    limits,
                    stop,
                    emit if stream else None,
                    dask_scheduler=options.get("dask_scheduler"),
                )
            else:
                request = service_pb2.CertifyRequest.FromString(payload)
                reply = jobs.run_certify(request, time_limit, limits, stop)
            recycle = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > RECYCLE_MAXRSS_KIB
            conn.send(("reply", reply.SerializeToString(), recycle))
            if recycle:
                return
        except Exception as exc:  # reported to the RPC, never fatal to the worker
            conn.send(("error", WorkerError.from_exception(exc)))


class Worker:
    def __init__(self, ctx, limits: Limits):
        self.conn, child = ctx.Pipe()
        child_control, self.control = ctx.Pipe(duplex=False)  # (receive end, send end)
        self.jobs_sent = 0
        self.process = ctx.Process(
            target=_worker_main, args=(child, child_control, limits), daemon=True
        )
        self.process.start()
        child.close()
        child_control.close()

    def send_job(self, job: tuple) -> None:
        self.jobs_sent += 1
        self.conn.send((self.jobs_sent, *job))

    def cancel(self) -> None:
        """Ask the running job to stop; never blocks, even if the worker is dead or stopped."""
        try:
            self.control.send(("cancel", self.jobs_sent))
        except (BrokenPipeError, OSError):
            pass

    def wait_ready(self, timeout: float = 120.0) -> None:
        if not self.conn.poll(timeout) or self.conn.recv() != ("ready",):
            raise RuntimeError("a solver worker failed to start")

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()
        self.control.close()

    def close(self) -> None:
        try:
            self.conn.send(("exit",))
        except (BrokenPipeError, OSError):
            pass
        self.process.join(2)
        self.kill()


class WorkerPool:
    def __init__(
        self,
        size: int,
        limits: Limits,
        deadline_margin: float = DEADLINE_MARGIN_SECONDS,
        queue_limit: int = 0,
        observer: Observer | None = None,
    ):
        """``size`` workers; ``queue_limit`` calls may wait for one at once (0: none may),
        each reported to ``observer`` (solver.service.slots)."""
        self._ctx = mp.get_context("spawn")
        self._limits = limits
        self.deadline_margin = deadline_margin
        self._free: SlotQueue[Worker] = SlotQueue(queue_limit, observer)
        self._lock = threading.Lock()
        self._all: list[Worker] = []
        self.size = size
        workers = [self._spawn() for _ in range(size)]
        for worker in workers:
            worker.wait_ready()
            self._free.put(worker)

    def _spawn(self) -> Worker:
        worker = Worker(self._ctx, self._limits)
        with self._lock:
            self._all.append(worker)
        return worker

    def _replace(self, worker: Worker) -> Worker:
        worker.kill()
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
        fresh = self._spawn()
        fresh.wait_ready()
        return fresh

    def _replace_later(self, worker: Worker) -> None:
        """Kill ``worker`` now; its replacement joins the free workers once it has started,
        so the RPC that lost the worker answers at once."""
        worker.kill()

        def replace() -> None:
            try:
                self._free.put(self._replace(worker))
            except Exception:  # the slot stays lost; logged for the operator
                log.exception("could not start a replacement solver process")

        threading.Thread(target=replace, name="prunecert-respawn", daemon=True).start()

    def run(
        self,
        kind: str,
        payload: bytes,
        time_limit: Callable[[], float],
        cancelled: Callable[[], bool],
        stream: bool = False,
        max_wait: float = 0.0,
        stop_requested: Callable[[], bool] | None = None,
        options: dict | None = None,
    ) -> Iterator[tuple[str, object]]:
        """Run one job on a worker, waiting up to ``max_wait`` seconds for one to be free;
        yields ("started", seconds waited), then ("event", bytes)* and ("reply", bytes) or
        ("error", WorkerError). Yields nothing if ``cancelled()`` while waiting.

        ``time_limit()`` is asked once a worker is had, so that time spent waiting comes off
        a deadline. Raises QueueRefusal (a PoolBusyError) when no worker is free and the queue
        is full or the wait runs out (solver.service.slots), and WorkerCrashedError if the
        worker dies or has not answered the time limit plus the pool's deadline margin after
        the job was sent (the server's own deadline: a stopped or hung worker is never waited
        on forever, whether or not the client set one). If the caller stops iterating early,
        the job is cancelled; the worker returns to the pool only once it is idle again, or is
        replaced in the background.

        ``stop_requested()`` turning true (StopSolve, solver.service.stops) stops the job as a
        cancel does, but the run goes on: the worker's reply (the engine's CANCELLED result with
        its best certified mask) is yielded as usual. A worker that has not answered the pool's
        deadline margin after the stop is replaced (WorkerCrashedError).

        ``options`` go to the worker with the job (``dask_scheduler``: the address a
        distributed solve's driver connects to).
        """
        taken = self._free.take(max_wait, cancelled)
        if taken is None:
            return
        worker, waited = taken
        idle = False  # the worker finished this job and can serve the next
        replace = False  # the worker must go (crashed, ignored a cancel, or recycles itself)
        try:
            if not worker.alive():
                worker = self._replace(worker)
            time_limit_now = time_limit()
            worker.send_job((kind, payload, time_limit_now, stream, options or {}))
            yield ("started", waited)
            overdue_at = time.monotonic() + time_limit_now + self.deadline_margin
            cancel_sent_at: float | None = None
            overdue = False
            stop_sent = False
            while True:
                now = time.monotonic()
                if not stop_sent and stop_requested is not None and stop_requested():
                    # Stopped, not cancelled: the result is still wanted, so the worker gets
                    # the margin (not CANCEL_GRACE_SECONDS) to certify its best mask.
                    worker.cancel()
                    stop_sent = True
                    overdue_at = min(overdue_at, now + self.deadline_margin)
                if cancel_sent_at is None and (cancelled() or now > overdue_at):
                    overdue = not cancelled()
                    worker.cancel()
                    cancel_sent_at = now
                if cancel_sent_at is not None and now - cancel_sent_at > CANCEL_GRACE_SECONDS:
                    replace = True
                    if not overdue:
                        log.warning("worker %s ignored cancellation; replacing it", worker.pid)
                        return
                    log.warning("worker %s overran its deadline; replacing it", worker.pid)
                    if stop_sent:
                        raise WorkerCrashedError(
                            f"the solver process did not answer within {self.deadline_margin:g} "
                            "s of the stop; it was replaced"
                        )
                    raise WorkerCrashedError(
                        f"the solver process did not answer within the time limit "
                        f"({time_limit_now:g} s) plus {self.deadline_margin:g} s; it was replaced"
                    )
                try:
                    message = self._receive(worker)
                except WorkerCrashedError:
                    replace = True
                    raise
                if message is None:
                    continue
                if message[0] == "event":
                    yield message
                    continue
                if message[0] == "reply" and message[2]:
                    replace = True  # it exits after this reply to return its memory
                else:
                    idle = True
                yield message[:2]
                return
        finally:
            if not idle and not replace:
                replace = not self._drain(worker)
            if replace:
                self._replace_later(worker)
            else:
                self._free.put(worker)

    @staticmethod
    def _receive(worker: Worker):
        """The next message, None after a short wait without one; WorkerCrashedError if it
        died."""
        if not worker.conn.poll(0.02):
            if not worker.alive():
                raise WorkerCrashedError(
                    f"the solver process exited with code {worker.process.exitcode}"
                )
            return None
        try:
            return worker.conn.recv()
        except (EOFError, OSError) as exc:
            raise WorkerCrashedError("the solver process died") from exc

    @staticmethod
    def _drain(worker: Worker) -> bool:
        """Stop the worker's job and wait for its answer; False if it must be replaced."""
        if not worker.alive():
            return False
        worker.cancel()
        deadline = time.monotonic() + CANCEL_GRACE_SECONDS
        while time.monotonic() < deadline:
            try:
                message = WorkerPool._receive(worker)
            except WorkerCrashedError:
                return False
            if message is not None and message[0] != "event":
                return not (message[0] == "reply" and message[2])
        return False

    def busy(self) -> int:
        """Workers not free now: running a job, or being replaced."""
        return self.size - self._free.free()

    def queue(self) -> SlotQueue[Worker]:
        """The free workers and the calls waiting for one (for the server's figures)."""
        return self._free

    def close(self) -> None:
        with self._lock:
            workers = list(self._all)
        for worker in workers:
            worker.close()
