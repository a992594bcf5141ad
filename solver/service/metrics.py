"""Prometheus metrics of one server (issue 15): what it was asked, how it answered, how busy it is.

Everything lives in a CollectorRegistry of the server's own (never prometheus_client's global
one), so several servers in one process keep separate counts, and ``serve --metrics-port``
exports it with prometheus_client's HTTP exporter (``start_exporter``; loopback by default).

- **RPCs** (``MetricsInterceptor``, the outermost interceptor, so refusals by admission and
  authentication are counted too): ``grpc_server_started_total``, ``grpc_server_handled_total``
  by status code and the ``grpc_server_handling_seconds`` histogram, labelled with
  ``grpc_service`` and ``grpc_method`` as go-grpc-prometheus names them, so dashboards made
  for gRPC servers work as they are.
- **Solver processes and the queue**, read at scrape time: ``prunecert_solver_slots``,
  ``prunecert_solver_slots_busy``, ``prunecert_solve_queue_length``,
  ``prunecert_solve_queue_limit``, ``prunecert_solve_queue_max_wait_seconds``; and the
  ``prunecert_solve_queue_wait_seconds`` histogram, one observation per call that asked for a
  solver process, labelled by what happened (solver.service.slots: served, full, timed_out,
  cancelled).
- **Solve outcomes**: ``prunecert_solve_outcomes_total`` by method and result status.
- **Jobs**, read from the job store at scrape time through a read-only SQLite connection of
  the collector's own (the store is never written, nor its lock taken):
  ``prunecert_jobs{state}`` and ``prunecert_job_items{state}`` with item states succeeded,
  failed, pending (queued or running, in unfinished jobs) and not_run (left over in a
  cancelled or failed job); ``prunecert_job_store_readable`` is 0 when a scrape could not read
  the store.

Nothing here carries a token, a tenant or a job id.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from prunecert.v1 import jobs_pb2
from solver.core.errors import ConfigurationError, FieldViolation
from solver.service import slots

log = logging.getLogger("prunecert.metrics")

# RPC latencies reach from health checks (well under a millisecond) to solves at the largest
# time limit (300 s by default).
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, float("inf"),
)  # fmt: skip
# Queue waits: from a free process (0) to the default wait limit (30 s) and beyond.
QUEUE_WAIT_BUCKETS = (
    0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, float("inf"),
)  # fmt: skip


@dataclass(frozen=True)
class SlotFigures:
    """The solver processes and their queue, as the collector reads them at scrape time."""

    total: int
    busy: int
    queued: int
    queue_limit: int
    max_queue_wait_seconds: float


class ServiceMetrics:
    """The server's registry and the metrics recorded as calls happen; the figures read at
    scrape time come from ``watch_slots`` and ``watch_job_store``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.started = Counter(
            "grpc_server_started",
            "RPCs started on the server",
            ["grpc_service", "grpc_method"],
            registry=self.registry,
        )
        self.handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, by status code",
            ["grpc_service", "grpc_method", "grpc_code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "grpc_server_handling_seconds",
            "Seconds from an RPC's start until the server finished it",
            ["grpc_service", "grpc_method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "prunecert_solve_queue_wait_seconds",
            "Seconds a call waited for a solver process, by outcome (served, full: refused at "
            "once, timed_out: refused after waiting, cancelled: its client left)",
            ["outcome"],
            buckets=QUEUE_WAIT_BUCKETS,
            registry=self.registry,
        )
        self.outcomes = Counter(
            "prunecert_solve_outcomes",
            "Solves answered, by RPC method and result status",
            ["method", "status"],
            registry=self.registry,
        )
        for outcome in slots.OUTCOMES:  # every outcome shows, at 0 until it happens
            self.queue_wait.labels(outcome)

    def observe_queue(self, outcome: str, waited: float) -> None:
        """solver.service.slots' observer: one call that asked for a solver process."""
        self.queue_wait.labels(outcome).observe(waited)

    def observe_solve(self, method: str, status: str) -> None:
        """One solve answered with a result of ``status`` (a SolveStatus name)."""
        self.outcomes.labels(method, status).inc()

    def watch_slots(self, figures: Callable[[], SlotFigures]) -> None:
        """Report the solver processes and queue, read by ``figures()`` at each scrape."""
        self.registry.register(_SlotCollector(figures))

    def watch_job_store(self, path: str | Path) -> None:
        """Report jobs and job items by state, read from the SQLite store at ``path``."""
        self.registry.register(_JobStoreCollector(Path(path)))


class _SlotCollector(Collector):
    def __init__(self, figures: Callable[[], SlotFigures]):
        self._figures = figures

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._figures()
        yield GaugeMetricFamily(
            "prunecert_solver_slots", "Solver processes (solves that may run at once)", now.total
        )
        yield GaugeMetricFamily(
            "prunecert_solver_slots_busy", "Solver processes running a call now", now.busy
        )
        yield GaugeMetricFamily(
            "prunecert_solve_queue_length", "Calls waiting now for a solver process", now.queued
        )
        yield GaugeMetricFamily(
            "prunecert_solve_queue_limit", "Most calls that may wait at once", now.queue_limit
        )
        yield GaugeMetricFamily(
            "prunecert_solve_queue_max_wait_seconds",
            "Longest a call waits for a solver process",
            now.max_queue_wait_seconds,
        )


_JOB_STATES = {
    jobs_pb2.JOB_STATE_QUEUED: "queued",
    jobs_pb2.JOB_STATE_RUNNING: "running",
    jobs_pb2.JOB_STATE_SUCCEEDED: "succeeded",
    jobs_pb2.JOB_STATE_FAILED: "failed",
    jobs_pb2.JOB_STATE_CANCELLED: "cancelled",
}
_UNFINISHED = (jobs_pb2.JOB_STATE_QUEUED, jobs_pb2.JOB_STATE_RUNNING)
ITEM_STATES = ("succeeded", "failed", "pending", "not_run")


class _JobStoreCollector(Collector):
    """Jobs and items by state, from the store's ``jobs`` table (solver.jobs.store), read
    through a read-only connection opened per scrape (SQLite's WAL lets it read while the
    server writes)."""

    def __init__(self, path: Path):
        self._path = path

    def _rows(self) -> list[tuple[int, int, int, int, int]]:
        uri = f"{self._path.resolve().as_uri()}?mode=ro"
        db = sqlite3.connect(uri, uri=True, timeout=1.0)
        try:
            return db.execute(
                "SELECT state, COUNT(*), SUM(total), SUM(succeeded), SUM(failed) "
                "FROM jobs GROUP BY state"
            ).fetchall()
        finally:
            db.close()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        readable = GaugeMetricFamily(
            "prunecert_job_store_readable", "1 if this scrape could read the job store"
        )
        try:
            rows = self._rows()
        except sqlite3.Error as exc:  # a scrape must still answer: the rest is reported
            log.warning("metrics: cannot read the job store %s: %s", self._path, exc)
            readable.add_metric([], 0)
            yield readable
            return
        readable.add_metric([], 1)
        yield readable
        jobs = dict.fromkeys(_JOB_STATES.values(), 0)
        items = dict.fromkeys(ITEM_STATES, 0)
        for state, count, total, succeeded, failed in rows:
            name = _JOB_STATES.get(state)
            if name is None:
                continue
            jobs[name] += count
            items["succeeded"] += succeeded or 0
            items["failed"] += failed or 0
            left = (total or 0) - (succeeded or 0) - (failed or 0)
            items["pending" if state in _UNFINISHED else "not_run"] += max(left, 0)
        by_state = GaugeMetricFamily(
            "prunecert_jobs", "Jobs in the store, by state", labels=["state"]
        )
        for name, count in jobs.items():
            by_state.add_metric([name], count)
        yield by_state
        item_family = GaugeMetricFamily(
            "prunecert_job_items",
            "Job items, by state (pending: queued or running in an unfinished job; not_run: "
            "left over in a cancelled or failed job)",
            labels=["state"],
        )
        for name, count in items.items():
            item_family.add_metric([name], count)
        yield item_family


# -- RPCs ----------------------------------------------------------------------------------------


class MetricsInterceptor(grpc.ServerInterceptor):
    """Counts and times every RPC by service, method and final status code.

    The code is the one the handler ended the call with (``context.code()``: aborts,
    including the admission's and authentication's refusals), OK for a handler that returned,
    DEADLINE_EXCEEDED or CANCELLED for a call its client gave up on, UNKNOWN for a handler
    that raised. Non-blocking handlers (health Watch) hold no thread and end when their client
    leaves: they are counted when the call ends (a close callback that only counts, never
    waits; see solver.service.health).
    """

    def __init__(self, metrics: ServiceMetrics):
        self.metrics = metrics

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        service, _, method = handler_call_details.method.lstrip("/").rpartition("/")
        return _timed(handler, self.metrics, service or "unknown", method)


def _final_code(context: grpc.ServicerContext, returned: bool) -> str:
    code = context.code()
    if code is not None:
        return code.name
    if not context.is_active():  # the client left (a handler's answer would still be due)
        return "DEADLINE_EXCEEDED" if context.time_remaining() <= 0 else "CANCELLED"
    return "OK" if returned else "UNKNOWN"


def _timed(handler: grpc.RpcMethodHandler, metrics: ServiceMetrics, service: str, method: str):
    if handler.request_streaming:
        behavior = handler.stream_unary or handler.stream_stream
    else:
        behavior = handler.unary_unary or handler.unary_stream
    started = metrics.started.labels(service, method)
    latency = metrics.latency.labels(service, method)

    def finish(context, start: float, returned: bool) -> None:
        latency.observe(time.monotonic() - start)
        metrics.handled.labels(service, method, _final_code(context, returned)).inc()

    if getattr(behavior, "experimental_non_blocking", False):

        def run_non_blocking(request, context, send_response_callback=None):
            started.inc()
            start = time.monotonic()
            once = threading.Lock()

            def on_end() -> None:
                if once.acquire(blocking=False):
                    finish(context, start, False)

            if not context.add_callback(on_end):  # already over
                on_end()
            return behavior(request, context, send_response_callback)

        run_non_blocking.experimental_non_blocking = True  # type: ignore[attr-defined]
        run_non_blocking.experimental_thread_pool = getattr(  # type: ignore[attr-defined]
            behavior, "experimental_thread_pool", None
        )
        run = run_non_blocking
    elif handler.response_streaming:

        def run_stream(request, context):
            started.inc()
            start = time.monotonic()
            returned = False
            try:
                yield from behavior(request, context)
                returned = True
            finally:
                finish(context, start, returned)

        run = run_stream
    else:

        def run_unary(request, context):
            started.inc()
            start = time.monotonic()
            returned = False
            try:
                reply = behavior(request, context)
                returned = True
                return reply
            finally:
                finish(context, start, returned)

        run = run_unary
    if handler.request_streaming:
        make = (
            grpc.stream_stream_rpc_method_handler
            if handler.response_streaming
            else grpc.stream_unary_rpc_method_handler
        )
    elif handler.response_streaming:
        make = grpc.unary_stream_rpc_method_handler
    else:
        make = grpc.unary_unary_rpc_method_handler
    return make(
        run,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


# -- the HTTP exporter ---------------------------------------------------------------------------


class Exporter:
    """prometheus_client's HTTP exporter serving one registry; ``close`` stops it."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int):
        try:
            self._httpd, self._thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise ConfigurationError(
                FieldViolation(
                    "metrics_port",
                    f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}",
                    "--metrics-port",
                )
            ) from exc
        self.host = host
        self.port: int = self._httpd.server_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
