"""The PruningSolver servicer: thin translation between RPCs and worker jobs.

Cheap checks (parsing, validation, backend name, limits) run in the RPC thread so that bad
requests never take a worker; every solve runs in a worker process (solver.service.workers).

A distributed solve (parameters.distributed, docs/design.md §16) runs on the job cluster: its
driver (solver.engine.cubes.solve_cubes) runs in a solver process like any solve, holding one
slot, and connects to the job manager's Dask scheduler, where the cubes run as tasks. Not in a
thread of the server: the driver builds the instance's model, ranks units (the lp rule solves
the relaxation in process) and certifies every improvement in exact arithmetic, all as costly as
a single solve's set-up and all sized by what the client sent. In a solver process a crash, a
memory blow-up or a driver that ignores its stop costs that process (the pool replaces it and
answers the call), never the server; the slots, the queue, the deadline and StopSolve are the
ones every solve has. The price is a Dask client connection per solve (well under a second).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata

import grpc

from prunecert.v1 import service_pb2, service_pb2_grpc, solve_pb2
from solver.backends import AUTO, REGISTRY, available_backends, get_backend
from solver.core.errors import (
    FieldViolation,
    InvalidProblemError,
    JobsDisabledError,
    PoolBusyError,
    PruneCertError,
    UnauthenticatedError,
    WorkerCrashedError,
)
from solver.core.validate import Limits, validate_parameters
from solver.engine import validate_for_problem
from solver.engine.cubes import cube_backend, validate_distributed
from solver.io import convert
from solver.io.wire import MAX_MESSAGE_BYTES
from solver.jobs.manager import JobManager
from solver.service import sizing
from solver.service.auth import identity, owner_of
from solver.service.metrics import ServiceMetrics
from solver.service.slots import FULL, QueueRefusal
from solver.service.status import RpcError, to_status
from solver.service.stops import StoppableSolves
from solver.service.workers import WorkerError, WorkerPool

log = logging.getLogger("prunecert.rpc")

# Time kept back from the client's deadline for certification and the reply.
DEADLINE_MARGIN_SECONDS = 0.25
# A queued call stops waiting this long before its deadline: a solve started later would
# have next to no time, and the client hears RESOURCE_EXHAUSTED, not only a deadline.
QUEUE_DEADLINE_RESERVE_SECONDS = 2 * DEADLINE_MARGIN_SECONDS
# The shortest time limit a solve is given (0 would mean no limit to the engine).
MIN_TIME_LIMIT_SECONDS = 0.01


# A solver process's memory budget unless the server sets its own (ServerConfig).
DEFAULT_WORKER_MEMORY_BYTES = 4 * 1024**3


@dataclass(frozen=True)
class ServiceLimits:
    problem: Limits
    max_concurrent: int
    max_time_limit: float
    worker_memory_bytes: int = DEFAULT_WORKER_MEMORY_BYTES
    # Calls that may wait for a solver process at once, and for how long (solver.service.slots).
    queue_limit: int = 0
    max_queue_wait: float = 0.0


def version() -> str:
    try:
        return metadata.version("prunecert")
    except metadata.PackageNotFoundError:
        return "unknown"


class PruningSolverServicer(service_pb2_grpc.PruningSolverServicer):
    def __init__(
        self,
        pool: WorkerPool,
        limits: ServiceLimits,
        requires_token: bool,
        jobs: JobManager | None = None,
        tokens: frozenset[str] = frozenset(),
        metrics: ServiceMetrics | None = None,
    ):
        self.pool = pool
        self.limits = limits
        self.requires_token = requires_token
        self.jobs = jobs
        self._tokens = tokens
        self.metrics = metrics
        self.stoppable = StoppableSolves()

    def _owner(self, context: grpc.ServicerContext) -> str:
        """The owner of the caller's jobs, from the same parse that authenticated it
        (solver.service.auth.identity); without tokens every caller is the same owner."""
        if not self.requires_token:
            return ""
        token = identity(context.invocation_metadata(), self._tokens)
        if token is None:  # the interceptor let it through, so this is a bug: refuse
            raise UnauthenticatedError("invalid bearer token")
        return owner_of(token)

    # -- plumbing -------------------------------------------------------------------------------
    @contextmanager
    def _rpc(self, method: str, request, context: grpc.ServicerContext):
        """One structured log line per RPC; the project's errors (and RpcError) become the
        call's status, read from the error's class (solver.service.status)."""
        start = time.monotonic()
        record = {"method": method, "request_bytes": request.ByteSize(), "response_bytes": 0}
        if getattr(request, "request_id", ""):
            record["request_id"] = request.request_id
        code = grpc.StatusCode.OK
        try:
            yield record
        except (RpcError, PruneCertError) as exc:
            err = exc if isinstance(exc, RpcError) else RpcError.from_exception(exc)
            code = err.code
            record["error"] = err.message
            context.abort_with_status(to_status(err))
        except Exception:
            code = grpc.StatusCode.INTERNAL
            log.exception("unexpected error in %s", method)
            raise
        finally:
            if code == grpc.StatusCode.OK and not context.is_active():
                code = grpc.StatusCode.CANCELLED
            record["code"] = code.name
            record["duration_ms"] = round((time.monotonic() - start) * 1000, 3)
            log.info(json.dumps(record, sort_keys=True))

    def _check(self, problem_msg, params_msg, mask_msg=None) -> dict:
        """Refuse in the RPC thread what can be refused cheaply: INVALID_ARGUMENT /
        RESOURCE_EXHAUSTED / NOT_FOUND, so a bad request never takes a worker (a distributed
        solve on a server without jobs: FAILED_PRECONDITION). Returns the options its worker
        gets with the job (WorkerPool.run).

        Sizes are read from the message's lengths and the model's memory is estimated before
        anything is converted (solver.service.sizing); the full validation converts every
        number, so it runs here only for requests of up to FULL_CHECK_VALUES numbers. A larger
        request is validated by its worker (same checks, same statuses), off the RPC thread,
        where a slow conversion cannot stall other calls.
        """
        sizing.precheck(problem_msg, self.limits.problem)
        params = convert.parse_parameters(params_msg)
        validate_parameters(params)
        distributed = params.distributed
        if distributed is not None:
            if mask_msg is not None:
                raise InvalidProblemError(
                    FieldViolation(
                        "parameters.distributed",
                        "not with Certify (its optimum is one solve); leave it unset",
                    )
                )
            if bad := params.distributed_violations():
                raise InvalidProblemError(bad)
        get_backend(params.backend)  # unknown or missing: refused before any work
        if distributed is not None:
            cube_backend(params)
        # Whether the solve builds weights mode's pattern model where it fits (an explicit
        # pattern backend, a cross-check, cubes) rather than the per-weight route auto may take.
        pattern_route = (
            distributed is not None
            or bool(params.cross_check)
            or (params.backend not in AUTO and get_backend(params.backend).solves_columns())
        )
        sizing.check_memory(
            problem_msg, self.limits.worker_memory_bytes, self.limits.problem, pattern_route
        )
        if sizing.repeated_values(problem_msg) <= sizing.FULL_CHECK_VALUES:
            problem = convert.parse_problem(problem_msg, self.limits.problem)
            validate_for_problem(problem, params)
            if distributed is not None:
                validate_distributed(problem, params, distributed.cubes, distributed.cube_rule)
            if mask_msg is not None:
                convert.parse_mask(mask_msg, problem)
        if distributed is None:
            return {}
        return {"dask_scheduler": self._dask_scheduler()}

    def _dask_scheduler(self) -> str:
        """The job cluster's scheduler address, for a distributed solve's driver: the job
        manager's (started here if no job has started it yet). FAILED_PRECONDITION without jobs,
        UNAVAILABLE when the cluster cannot be had."""
        if self.jobs is None:
            raise RpcError(
                "FAILED_PRECONDITION",
                "a distributed solve runs on the server's job cluster, and this server has no "
                "jobs (start it with --data-dir, and --dask-scheduler for an existing cluster)",
                [
                    FieldViolation(
                        "parameters.distributed",
                        "this server has no job cluster (prunecert serve --data-dir enables it)",
                    )
                ],
            )
        try:
            return self.jobs.scheduler_address()
        except Exception as exc:
            log.warning("the job cluster cannot be reached: %s", exc)
            raise RpcError(
                "UNAVAILABLE", f"the server's job cluster cannot be reached: {exc}"
            ) from exc

    def _time_limit(
        self, params: solve_pb2.SolveParameters, context: grpc.ServicerContext
    ) -> float:
        """The solve's time limit: the request's, capped by the server's and by the deadline
        left (asked once a solver process is had, so a wait in the queue comes off it)."""
        limit = self.limits.max_time_limit
        if params.time_limit_seconds > 0:
            limit = min(limit, params.time_limit_seconds)
        remaining = _remaining(context)
        if remaining is not None:
            limit = min(limit, remaining - DEADLINE_MARGIN_SECONDS)
        return max(limit, MIN_TIME_LIMIT_SECONDS)

    def _queue_wait(self, context: grpc.ServicerContext) -> tuple[float, bool]:
        """How long this call may wait for a solver process, and whether its deadline (rather
        than the server's queue wait limit) sets it."""
        wait = self.limits.max_queue_wait if self.limits.queue_limit > 0 else 0.0
        remaining = _remaining(context)
        if remaining is not None and remaining - QUEUE_DEADLINE_RESERVE_SECONDS < wait:
            return max(0.0, remaining - QUEUE_DEADLINE_RESERVE_SECONDS), True
        return wait, False

    def _jobs(
        self, kind: str, request, context, stream: bool, stop_requested=None, options=None
    ) -> Iterator[tuple[str, object]]:
        """The pool's messages for this call's job: ("started", seconds queued) first.
        ``stop_requested``: StopSolve's flag for a stoppable solve (solver.service.stops);
        ``options``: for the worker (``_check``'s)."""
        max_wait, by_deadline = self._queue_wait(context)
        try:
            yield from self.pool.run(
                kind,
                request.SerializeToString(),
                lambda: self._time_limit(request.parameters, context),
                lambda: not context.is_active(),
                stream,
                max_wait,
                stop_requested,
                options,
            )
        except QueueRefusal as exc:
            raise PoolBusyError(self._refusal_message(exc, max_wait, by_deadline)) from exc
        except WorkerCrashedError as exc:
            raise WorkerCrashedError(f"the solve was aborted: {exc}") from exc

    def _refusal_message(self, refusal: QueueRefusal, max_wait: float, by_deadline: bool) -> str:
        """What a refused call is told: the slots are busy, and why it could not wait."""
        slots = self.limits.max_concurrent
        busy = f"all {slots} solver slots are busy (max concurrent solves {slots})"
        queue = self.limits.queue_limit
        if refusal.reason == FULL:
            if queue <= 0 or self.limits.max_queue_wait <= 0:
                return f"{busy}; retry later"
            if by_deadline and max_wait <= 0:
                return f"{busy} and the call's deadline leaves no time to wait; retry later"
            return f"{busy} and the queue is full ({queue} calls waiting); retry later"
        if by_deadline:
            return (
                f"{busy}: waited {refusal.waited:.1f} s in the queue until just before the "
                "call's deadline; retry later or with a longer deadline"
            )
        return (
            f"{busy}: waited {refusal.waited:.1f} s in the queue, the server's limit "
            f"(max queue wait {self.limits.max_queue_wait:g} s); retry later"
        )

    @staticmethod
    def _raise(error: WorkerError) -> None:
        """End the RPC with the status the worker's error carried (its class's, not its name)."""
        raise RpcError(error.status, error.message, error.violations)

    def _unary(self, kind: str, request, context, reply_type, record: dict, options=None):
        """The worker's reply to a unary call (its seconds queued in ``record``)."""
        for tag, payload in self._jobs(kind, request, context, stream=False, options=options):
            if tag == "started":
                record["queue_wait_seconds"] = payload
            if tag == "error":
                self._raise(payload)  # type: ignore[arg-type]
            if tag == "reply":
                return reply_type.FromString(payload)
        # Cancelled before the worker answered: the client is gone, any reply will do.
        return reply_type()

    def _solved(self, method: str, result: solve_pb2.SolveResult, record: dict) -> None:
        """Stamp a solve's result with its wait in the queue, and count its outcome."""
        result.stats.queue_wait_seconds = record.get("queue_wait_seconds", 0.0)
        status = solve_pb2.SolveStatus.Name(result.status)
        record["status"] = status
        if self.metrics is not None:
            self.metrics.observe_solve(method, status.removeprefix("SOLVE_STATUS_"))

    # -- RPCs ----------------------------------------------------------------------------------
    def Solve(self, request, context):
        with self._rpc("Solve", request, context) as record:
            options = self._check(request.problem, request.parameters)
            reply = self._unary("solve", request, context, solve_pb2.SolveResult, record, options)
            if context.is_active():
                self._solved("Solve", reply, record)
            record["response_bytes"] = reply.ByteSize()
            return reply

    def SolveStream(self, request, context):
        with (
            self._rpc("SolveStream", request, context) as record,
            self.stoppable.running(self._owner(context)) as solve,
        ):
            options = self._check(request.problem, request.parameters)
            events = 0
            jobs = self._jobs(
                "solve",
                request,
                context,
                stream=True,
                stop_requested=solve.stop_requested,
                options=options,
            )
            # Closed here, not left to garbage collection: when the client goes away gRPC
            # closes this generator, and a traceback that keeps its frame alive would keep the
            # solver process busy with it (the pool's run frees it when closed).
            try:
                for tag, payload in jobs:
                    if tag == "started":
                        record["queue_wait_seconds"] = payload
                        # Only now: a solve still queued has nothing to stop (cancel the call).
                        yield service_pb2.SolveEvent(
                            started=service_pb2.SolveStarted(
                                solve_id=solve.id,
                                queue_wait_seconds=payload,  # type: ignore[arg-type]
                            )
                        )
                    if tag == "error":
                        self._raise(payload)  # type: ignore[arg-type]
                    if tag == "event":
                        events += 1
                        yield service_pb2.SolveEvent.FromString(payload)  # type: ignore[arg-type]
                    elif tag == "reply":
                        result = solve_pb2.SolveResult.FromString(payload)  # type: ignore[arg-type]
                        if not context.is_active():  # the client is gone: nothing is answered
                            break
                        self._solved("SolveStream", result, record)
                        record["response_bytes"] = result.ByteSize()
                        yield service_pb2.SolveEvent(
                            elapsed_seconds=result.stats.wall_time_seconds, result=result
                        )
            finally:
                jobs.close()
            record["events"] = events
            if solve.stop_requested():
                record["stopped"] = True

    def StopSolve(self, request, context):
        with self._rpc("StopSolve", request, context):
            if not self.stoppable.stop(self._owner(context), request.solve_id):
                raise RpcError(
                    "NOT_FOUND",
                    "no running solve of this caller has that solve_id (it may have ended)",
                    [FieldViolation("solve_id", "no running solve of this caller has this id")],
                )
            return service_pb2.StopSolveResponse()

    def Certify(self, request, context):
        with self._rpc("Certify", request, context) as record:
            self._check(request.problem, request.parameters, request.mask)
            reply = self._unary("certify", request, context, solve_pb2.CertifyResult, record)
            if reply.HasField("optimum") and context.is_active():
                self._solved("Certify", reply.optimum, record)
            record["response_bytes"] = reply.ByteSize()
            return reply

    def GetServerInfo(self, request, context):
        with self._rpc("GetServerInfo", request, context) as record:
            installed = available_backends()
            limits = self.limits.problem
            reply = service_pb2.ServerInfo(
                version=version(),
                backends=[
                    service_pb2.BackendInfo(
                        name=name,
                        version=installed[name],
                        supports_early_stop=REGISTRY[name].supports_early_stop,
                    )
                    for name in REGISTRY
                    if name in installed
                ],
                max_units=limits.max_units,
                max_input_dim=limits.max_input_dim,
                max_points=limits.max_points,
                max_weight_candidates=limits.max_weight_candidates,
                max_concurrent_solves=self.limits.max_concurrent,
                max_time_limit_seconds=self.limits.max_time_limit,
                requires_token=self.requires_token,
                max_message_bytes=MAX_MESSAGE_BYTES,
                busy_solves=self.pool.busy(),
                queue_limit=self.limits.queue_limit,
                max_queue_wait_seconds=self.limits.max_queue_wait,
            )
            queue = self.pool.queue().figures()
            reply.queued_solves = queue.queued
            reply.mean_queue_wait_seconds = queue.mean_wait_seconds
            reply.recent_queue_wait_seconds = queue.recent_wait_seconds
            reply.queue_refusals = queue.refusals
            record["response_bytes"] = reply.ByteSize()
            return reply

    # -- jobs ----------------------------------------------------------------------------------
    def _job_manager(self) -> JobManager:
        """The job manager (its errors reach the caller through ``_rpc`` like any other)."""
        if self.jobs is None:
            raise JobsDisabledError("this server has no job store (start it with --data-dir)")
        return self.jobs

    def SubmitJob(self, request, context):
        with self._rpc("SubmitJob", request, context) as record:
            job = self._job_manager().submit(self._owner(context), request)
            record["job"] = job.id
            return job

    def GetJob(self, request, context):
        with self._rpc("GetJob", request, context):
            return self._job_manager().get(self._owner(context), request.id)

    def ListJobs(self, request, context):
        with self._rpc("ListJobs", request, context):
            return self._job_manager().list(self._owner(context), request)

    def CancelJob(self, request, context):
        with self._rpc("CancelJob", request, context):
            return self._job_manager().cancel(self._owner(context), request.id)

    def WatchJob(self, request, context):
        with self._rpc("WatchJob", request, context):
            yield from self._job_manager().watch(
                self._owner(context), request.id, context.is_active
            )

    def GetJobResults(self, request, context):
        with self._rpc("GetJobResults", request, context):
            yield from self._job_manager().results(self._owner(context), request.id, request.offset)


def _remaining(context: grpc.ServicerContext) -> float | None:
    """Seconds to the call's deadline; None without one."""
    remaining = context.time_remaining()
    if remaining is None or not math.isfinite(remaining):
        return None
    return remaining
