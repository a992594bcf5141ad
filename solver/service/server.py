"""Server bootstrap: safety checks, then the worker pool, then the gRPC server with health and
reflection.

The checks live here, not in the CLI, so that a server started from Python gets them too:
``create_server`` refuses a ServerConfig that ``ServerConfig.check`` rejects, and
``load_config`` builds one from the files ``prunecert serve`` names (tokens, TLS PEMs).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import os
import signal
import socket
import threading
from concurrent import futures
from dataclasses import dataclass, field, replace
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from prunecert.v1 import service_pb2_grpc
from solver.core.errors import ConfigurationError, FieldViolation
from solver.core.validate import DEFAULT_LIMITS, Limits
from solver.io.wire import MAX_MESSAGE_BYTES, MESSAGE_SIZE_OPTIONS, SERVICE_NAME
from solver.jobs.manager import JobManager
from solver.service import sizing
from solver.service.admission import (
    DEFAULT_RECEIVE_TIMEOUT_SECONDS,
    UNARY_THREADS,
    Admission,
    AdmissionInterceptor,
    AdmissionLimits,
)
from solver.service.auth import TokenInterceptor, read_tokens
from solver.service.health import HealthServicer
from solver.service.metrics import Exporter, MetricsInterceptor, ServiceMetrics, SlotFigures
from solver.service.servicer import (
    DEFAULT_WORKER_MEMORY_BYTES,
    PruningSolverServicer,
    ServiceLimits,
)
from solver.service.workers import WorkerPool

log = logging.getLogger("prunecert.server")

# Each waiting call holds an RPC thread, so the queue is bounded by what threads can be had.
MAX_QUEUE_LIMIT = 1024
# The server pings a connection that has been quiet this long, and closes it when the ping is
# not answered within KEEPALIVE_TIMEOUT_SECONDS: a client that vanished (power cut, dropped
# route, no FIN) loses its calls, and with them their solver processes and stream slots, in
# minutes rather than gRPC's default of two hours.
KEEPALIVE_SECONDS = 120.0
KEEPALIVE_TIMEOUT_SECONDS = 20.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(host, None)
            )
        except OSError:
            return False


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 50051
    tokens: frozenset[str] = frozenset()
    tls_cert: bytes | None = None  # PEM
    tls_key: bytes | None = None  # PEM
    max_concurrent: int = 2
    max_time_limit: float = 300.0
    limits: Limits = field(default_factory=lambda: DEFAULT_LIMITS)
    grace_seconds: float = 10.0
    # The server's own deadline for a solve: its time limit plus this (solver.service.workers).
    solve_margin_seconds: float = 30.0
    data_dir: str | None = None  # the job store's directory; None disables jobs
    dask_scheduler: str | None = None  # None: a local cluster sized to the machine
    # The local cluster's dashboard (HOST:PORT, or :PORT for loopback); None: no dashboard.
    dask_dashboard: str | None = None
    # Serve a non-loopback address without tokens anyway (anyone who can reach it may solve).
    insecure: bool = False
    # Streaming RPCs open at once, in all and per tenant (solver.service.admission): beyond
    # them a stream is refused, so streams never take the threads unary calls need.
    max_streams: int = 16
    max_streams_per_tenant: int = 8
    # Request bytes being handled at once; the next request past it is refused unparsed. One
    # request of the largest size gRPC accepts always fits.
    max_request_bytes: int = MAX_MESSAGE_BYTES
    # A solver process's memory budget: a problem whose model is estimated past it is refused
    # (RESOURCE_EXHAUSTED naming the domain) before it is built (solver.service.sizing).
    worker_memory_bytes: int = DEFAULT_WORKER_MEMORY_BYTES
    # Calls that may wait at once for a busy solver process (None: 2 x max_concurrent; 0: no
    # queue, a call finding every process busy is refused at once), and the longest one waits
    # (0: no queue). Each waiting call holds an RPC thread (solver.service.slots).
    queue_limit: int | None = None
    max_queue_wait_seconds: float = 30.0
    # Prometheus metrics over HTTP on metrics_host:metrics_port (None: off; 0: any free port).
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    # Connection limits (gRPC server options; ``grpc_options``; issue 15). Concurrent calls
    # (HTTP/2 streams) one connection may have open: a client over it waits for one of its
    # calls to end, gRPC clients queue them.
    max_calls_per_connection: int = 32
    # A connection with no call for this long is closed (clients reconnect when they need to).
    max_connection_idle_seconds: float = 300.0
    # A connection this old is asked to go away (new calls go to a new connection); its calls
    # still running after the grace are cancelled. None: no age limit / no grace limit.
    max_connection_age_seconds: float | None = None
    max_connection_age_grace_seconds: float | None = None
    # Clients may ping a connection without calls at most this often (gRPC's default); two
    # pings more often close it, so pings cannot be used to keep the server busy.
    min_ping_interval_seconds: float = 300.0
    # A unary request that has not arrived whole this long after the server started reading
    # it is cancelled, freeing its receive slot (solver.service.admission).
    receive_timeout_seconds: float = DEFAULT_RECEIVE_TIMEOUT_SECONDS

    @property
    def solve_queue(self) -> tuple[int, float]:
        """(queue limit, longest wait) in effect: ``queue_limit``'s default resolved, and
        (0, 0) when either setting turns the queue off."""
        limit = 2 * self.max_concurrent if self.queue_limit is None else self.queue_limit
        if limit <= 0 or self.max_queue_wait_seconds <= 0:
            return 0, 0.0
        return limit, self.max_queue_wait_seconds

    def grpc_options(self) -> list[tuple[str, int]]:
        """The gRPC server options for the connection limits above (grpc core's channel
        arguments, as grpcio 1.81 takes them)."""
        options = [
            ("grpc.max_concurrent_streams", self.max_calls_per_connection),
            ("grpc.max_connection_idle_ms", _ms(self.max_connection_idle_seconds)),
            ("grpc.http2.min_ping_interval_without_data_ms", _ms(self.min_ping_interval_seconds)),
            ("grpc.http2.max_ping_strikes", 2),
            ("grpc.keepalive_time_ms", _ms(KEEPALIVE_SECONDS)),
            ("grpc.keepalive_timeout_ms", _ms(KEEPALIVE_TIMEOUT_SECONDS)),
        ]
        if self.max_connection_age_seconds is not None:
            options.append(("grpc.max_connection_age_ms", _ms(self.max_connection_age_seconds)))
        if self.max_connection_age_grace_seconds is not None:
            grace = _ms(self.max_connection_age_grace_seconds)
            options.append(("grpc.max_connection_age_grace_ms", grace))
        return options

    def violations(self) -> list[FieldViolation]:
        """Every unsafe or inconsistent setting, each naming its field and `serve` flag."""
        bad = []
        if not self.tokens and not self.insecure and not is_loopback(self.host):
            bad.append(
                FieldViolation(
                    "host",
                    f"refusing to serve on non-loopback address {self.host} without tokens "
                    "(--token-file); pass insecure (--insecure) to do it anyway",
                    "--host",
                )
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            bad.append(_tls_pairing())
        if self.dask_dashboard is not None:
            bad += _dashboard_violations(self.dask_dashboard, self.insecure)
        if self.max_concurrent < 1:
            bad.append(FieldViolation("max_concurrent", "must be at least 1", "--max-concurrent"))
        if not self.max_time_limit > 0:
            bad.append(FieldViolation("max_time_limit", "must be > 0", "--max-time-limit"))
        bad += self._admission_violations()
        bad += self._queue_violations()
        bad += self._connection_violations()
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            bad.append(FieldViolation("metrics_port", "must be in [0, 65535]", "--metrics-port"))
        if not (self.solve_margin_seconds > 0 and math.isfinite(self.solve_margin_seconds)):
            bad.append(
                FieldViolation(
                    "solve_margin_seconds", "must be a finite number > 0", "--solve-margin"
                )
            )
        return bad

    def _admission_violations(self) -> list[FieldViolation]:
        bad = self.admission_limits().violations()
        if self.worker_memory_bytes < 1:
            bad.append(
                FieldViolation("worker_memory_bytes", "must be at least 1", "--worker-memory")
            )
        return bad

    def _connection_violations(self) -> list[FieldViolation]:
        bad = []
        if not 1 <= self.max_calls_per_connection <= 2**31 - 1:
            bad.append(
                FieldViolation(
                    "max_calls_per_connection",
                    "must be at least 1",
                    "--max-calls-per-connection",
                )
            )
        for name, value, flag, optional in (
            ("max_connection_idle_seconds", self.max_connection_idle_seconds,
             "--max-connection-idle", False),
            ("max_connection_age_seconds", self.max_connection_age_seconds,
             "--max-connection-age", True),
            ("max_connection_age_grace_seconds", self.max_connection_age_grace_seconds,
             "--max-connection-age-grace", True),
            ("min_ping_interval_seconds", self.min_ping_interval_seconds,
             "--min-ping-interval", False),
        ):  # fmt: skip
            if value is None and optional:
                continue
            if value is None or not (0 < value <= MAX_OPTION_SECONDS):
                bad.append(
                    FieldViolation(
                        name, f"must be a number of seconds in (0, {MAX_OPTION_SECONDS:g}]", flag
                    )
                )
        return bad

    def _queue_violations(self) -> list[FieldViolation]:
        bad = []
        if self.queue_limit is not None and not 0 <= self.queue_limit <= MAX_QUEUE_LIMIT:
            bad.append(
                FieldViolation("queue_limit", f"must be in [0, {MAX_QUEUE_LIMIT}]", "--queue-limit")
            )
        wait = self.max_queue_wait_seconds
        if not (wait >= 0 and math.isfinite(wait)):
            bad.append(
                FieldViolation(
                    "max_queue_wait_seconds", "must be a finite number >= 0", "--max-queue-wait"
                )
            )
        return bad

    def admission_limits(self) -> AdmissionLimits:
        return AdmissionLimits(
            self.max_streams,
            self.max_streams_per_tenant,
            self.max_request_bytes,
            self.receive_timeout_seconds,
        )

    def check(self) -> None:
        """Raise ConfigurationError listing every violation (see ``violations``)."""
        bad = self.violations()
        if bad:
            raise ConfigurationError(bad)


# gRPC takes its times as int milliseconds: at most 2^31 - 1 ms, about 24.8 days.
MAX_OPTION_SECONDS = (2**31 - 1) / 1000


def _ms(seconds: float) -> int:
    return max(1, min(2**31 - 1, round(seconds * 1000)))


def _dashboard_violations(address: str, insecure: bool) -> list[FieldViolation]:
    """The dashboard has no authentication and shows every tenant's jobs: loopback only,
    unless insecure."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        return [FieldViolation("dask_dashboard", "expected HOST:PORT or :PORT", "--dask-dashboard")]
    if host and not insecure and not is_loopback(host.strip("[]")):
        return [
            FieldViolation(
                "dask_dashboard",
                f"refusing to serve the Dask dashboard (no authentication) on {host}; "
                "pass insecure (--insecure) to do it anyway",
                "--dask-dashboard",
            )
        ]
    return []


def _tls_pairing() -> FieldViolation:
    return FieldViolation(
        "tls_cert", "tls_cert and tls_key go together (--tls-cert with --tls-key)", "--tls-cert"
    )


def load_config(
    *,
    tokens_file: str | Path | None = None,
    tls_cert_file: str | Path | None = None,
    tls_key_file: str | Path | None = None,
    **settings,
) -> ServerConfig:
    """A checked ServerConfig from the files `prunecert serve` names and the other ServerConfig
    fields (``settings``: host, port, insecure, max_concurrent, ...).

    Raises ConfigurationError, naming the field and the flag, for a tokens file that cannot be
    read or holds no token, a certificate without its key (or the reverse), a PEM file that
    cannot be read, and everything ``ServerConfig.check`` refuses. The settings are checked
    before the PEM files are read, so an unsafe address is reported even with a bad file.
    """
    tokens = read_tokens(tokens_file) if tokens_file else frozenset()
    config = ServerConfig(tokens=tokens, **settings)
    bad = config.violations()
    if (tls_cert_file is None) != (tls_key_file is None):
        bad.append(_tls_pairing())
    if bad:
        raise ConfigurationError(bad)
    if not tls_cert_file:
        return config
    try:
        cert, key = Path(tls_cert_file).read_bytes(), Path(tls_key_file).read_bytes()
    except OSError as exc:
        raise ConfigurationError(FieldViolation("tls_cert", str(exc), "--tls-cert")) from exc
    return replace(config, tls_cert=cert, tls_key=key)


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    pool: WorkerPool
    health: HealthServicer
    admission: Admission
    metrics: ServiceMetrics

    jobs: JobManager | None = None
    exporter: Exporter | None = None  # the metrics endpoint, when asked for
    _closed: bool = False

    def stop(self, grace: float | None = 0, bound: float | None = None) -> bool:
        """Stop accepting, let in-flight RPCs run for ``grace`` seconds, cancel the rest; wait
        at most ``bound`` seconds (None: no bound) for gRPC to finish them. True if it did."""
        self.health.enter_graceful_shutdown()
        finished = self.server.stop(grace).wait(bound)
        self.close_resources()
        return finished

    def close_resources(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.exporter is not None:
            self.exporter.close()
        self.pool.close()
        if self.jobs is not None:
            self.jobs.close()


def _check_port_free(host: str, port: int) -> None:
    """ConfigurationError naming --port if ``host:port`` cannot be bound now: checked before
    any worker starts, so a port in use is one line, not a traceback (issue 15)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigurationError(FieldViolation("host", f"{host}: {exc}", "--host")) from exc
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            # As gRPC binds (SO_REUSEADDR): a port left in TIME_WAIT is free, a listener is not.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise _port_unavailable(host, port, exc.strerror or str(exc)) from exc


def _port_unavailable(host: str, port: int, why: str) -> ConfigurationError:
    return ConfigurationError(
        FieldViolation("port", f"cannot listen on {host}:{port}: {why}", "--port")
    )


def create_server(config: ServerConfig) -> RunningServer:
    """Start the worker pool and a gRPC server on config.host:config.port (0 picks a port).

    Raises ConfigurationError, before starting anything, if ``config.check()`` does, if the
    port is taken, or if the job store cannot be used (solver.jobs.store); on any later failure
    whatever was started is stopped again.
    """
    config.check()
    _check_port_free(config.host, config.port)
    metrics = ServiceMetrics()
    exporter = jobs = pool = None
    try:
        if config.metrics_port is not None:
            exporter = Exporter(metrics.registry, config.metrics_host, config.metrics_port)
        if config.data_dir is not None:
            jobs = JobManager(
                config.data_dir,
                config.limits,
                config.max_time_limit,
                config.dask_scheduler,
                dask_dashboard=config.dask_dashboard,
                precheck=functools.partial(
                    sizing.check_problem, limits=config.limits, budget=config.worker_memory_bytes
                ),
            )
            metrics.watch_job_store(jobs.store.path)
        queue_limit, max_wait = config.solve_queue
        pool = WorkerPool(
            config.max_concurrent,
            config.limits,
            config.solve_margin_seconds,
            queue_limit=queue_limit,
            observer=metrics.observe_queue,
        )
        metrics.watch_slots(
            lambda: SlotFigures(
                pool.size, pool.busy(), pool.queue().queued(), queue_limit, max_wait
            )
        )
        running = _start(config, pool, jobs, metrics)
        running.exporter = exporter
        return running
    except BaseException:
        if exporter is not None:
            exporter.close()
        if pool is not None:
            pool.close()
        if jobs is not None:
            jobs.close()
        raise


def _start(
    config: ServerConfig, pool: WorkerPool, jobs: JobManager | None, metrics: ServiceMetrics
) -> RunningServer:
    admission = Admission(config.admission_limits())
    # Metrics outermost, so that every refusal below is counted with its code; then admission,
    # so its byte cap also covers calls that authentication refuses; authentication then
    # replaces the handler of an unidentified caller.
    interceptors: list[grpc.ServerInterceptor] = [
        MetricsInterceptor(metrics),
        AdmissionInterceptor(admission, config.tokens),
    ]
    if config.tokens:
        interceptors.append(TokenInterceptor(config.tokens))
    # A thread per solve slot and per place in the solve queue (a solve, running or waiting,
    # holds its RPC thread; past the queue a call is refused at once), one per stream of the
    # budget, and UNARY_THREADS that none of them can take: info, jobs, health Check and
    # refusals always find one (issue 15, item 3; issue 13, item 6).
    queue_limit, max_wait = config.solve_queue
    threads = config.max_concurrent + queue_limit + config.max_streams + UNARY_THREADS
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="prunecert-rpc"),
        interceptors=interceptors,
        # No BDP probing: with it, gRPC widens the flow-control window and buffers whole
        # requests that no handler has asked for yet, so the admission's receive slots could
        # not bound that memory (8 x 80 MB requests at once: peak 801 MiB with it, 424 without,
        # one receive slot; issue 15, item 11).
        # The connection limits (ServerConfig.grpc_options; issue 15) come after.
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.http2.bdp_probe", 0),
            *MESSAGE_SIZE_OPTIONS,
            *config.grpc_options(),
        ],
        # Short calls may queue briefly behind busy threads; past this gRPC refuses at once.
        maximum_concurrent_rpcs=threads + 32,
    )
    servicer = PruningSolverServicer(
        pool,
        ServiceLimits(
            config.limits,
            config.max_concurrent,
            config.max_time_limit,
            config.worker_memory_bytes,
            queue_limit,
            max_wait,
        ),
        requires_token=bool(config.tokens),
        jobs=jobs,
        tokens=config.tokens,
        metrics=metrics,
    )
    service_pb2_grpc.add_PruningSolverServicer_to_server(servicer, server)
    # Our own health servicer: the stock one deadlocks under a Watch storm (issue 15).
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (
            SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    address = f"{config.host}:{config.port}"
    try:
        if config.tls_cert is not None:
            credentials = grpc.ssl_server_credentials([(config.tls_key, config.tls_cert)])
            port = server.add_secure_port(address, credentials)
        else:
            port = server.add_insecure_port(address)
    except RuntimeError as exc:  # taken since the check above
        raise _port_unavailable(config.host, config.port, "address in use") from exc
    if port == 0:
        raise _port_unavailable(config.host, config.port, "no address could be bound")
    server.start()
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server, port, pool, health_servicer, admission, metrics, jobs)


# How long after the grace a stopping server waits for gRPC to finish the calls it cancelled.
# A call gRPC can no longer finish (see solver.service.admission) must not keep the process
# alive after SIGTERM (issue 15, item 6): past this the process exits regardless.
STOP_MARGIN_SECONDS = 5.0


def describe(config: ServerConfig, running: RunningServer) -> list[str]:
    """What a started server says about itself, one line each (issue 13, item 9): where it
    listens, where jobs are stored, where they run, and where its metrics are."""
    queue_limit, max_wait = config.solve_queue
    queue = (
        f"a queue of {queue_limit} calls waiting up to {max_wait:g} s"
        if queue_limit
        else "no queue"
    )
    lines = [
        f"serving {SERVICE_NAME} on {config.host}:{running.port} "
        f"({'tls' if config.tls_cert else 'plaintext'}, "
        f"{'tokens required' if config.tokens else 'no tokens'}; "
        f"{config.max_concurrent} solver process{'es' if config.max_concurrent != 1 else ''}, "
        f"{queue})"
    ]
    if running.jobs is None:
        lines += ["data dir: none (no job store: jobs are off)", "job cluster: none (jobs are off)"]
    else:
        lines.append(
            f"data dir: {Path(config.data_dir).resolve()} (job store {running.jobs.store.path.name})"
        )
        if config.dask_scheduler:
            lines.append(f"job cluster: the Dask scheduler at {config.dask_scheduler}")
        else:
            # As solver.jobs.manager starts it: one single-threaded worker process per core.
            cluster = (
                f"job cluster: a local Dask cluster of {os.cpu_count() or 1} worker processes "
                "on loopback, started with the first job"
            )
            if config.dask_dashboard:
                cluster += f" (dashboard on {config.dask_dashboard})"
            lines.append(cluster)
    if running.exporter is not None:
        lines.append(f"metrics: {running.exporter.url}")
    return lines


def serve(config: ServerConfig) -> int:
    """Run until SIGTERM or SIGINT; then drain gracefully and return 0. The process ends
    within the grace plus STOP_MARGIN_SECONDS whatever its clients did."""
    running = create_server(config)
    for line in describe(config, running):
        log.info("%s", line)
    stopping = threading.Event()
    stopped = threading.Event()
    clean = [True]

    def stop() -> None:
        try:
            clean[0] = running.stop(
                config.grace_seconds, config.grace_seconds + STOP_MARGIN_SECONDS
            )
        finally:
            stopped.set()

    def on_signal(signum, frame) -> None:
        if not stopping.is_set():
            stopping.set()
            log.info("signal %d: stopping (grace %.0fs)", signum, config.grace_seconds)
            threading.Thread(target=stop, name="prunecert-stop", daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Not wait_for_termination: it never returns while gRPC holds a call it cannot finish.
    while not stopped.wait(0.5):
        pass
    running.close_resources()
    if not clean[0]:
        log.warning(
            "gRPC had not finished its calls %.0fs after the grace; exiting anyway",
            STOP_MARGIN_SECONDS,
        )
        logging.shutdown()
        # Threads stuck in such calls would block a normal exit (the RPC pool's threads are
        # joined at exit); everything this server owns was closed above.
        os._exit(0)
    log.info("stopped")
    return 0
