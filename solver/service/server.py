"""Server bootstrap: worker pool first, then the gRPC server with health and reflection."""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import threading
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from prunecert.v1 import service_pb2, service_pb2_grpc
from solver.core.validate import DEFAULT_LIMITS, Limits
from solver.jobs.manager import JobManager
from solver.service.auth import TokenInterceptor
from solver.service.servicer import MAX_MESSAGE_BYTES, PruningSolverServicer, ServiceLimits
from solver.service.workers import WorkerPool

log = logging.getLogger("prunecert.server")
SERVICE_NAME = service_pb2.DESCRIPTOR.services_by_name["PruningSolver"].full_name


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
    data_dir: str | None = None  # the job store's directory; None disables jobs
    dask_scheduler: str | None = None  # None: a local cluster sized to the machine


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    pool: WorkerPool
    health: health.HealthServicer

    jobs: JobManager | None = None
    _closed: bool = False

    def stop(self, grace: float | None = 0) -> None:
        """Stop accepting, let in-flight RPCs run for ``grace`` seconds, cancel the rest."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self.close_resources()

    def close_resources(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.pool.close()
        if self.jobs is not None:
            self.jobs.close()


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


def create_server(config: ServerConfig) -> RunningServer:
    """Start the worker pool and a gRPC server on config.host:config.port (0 picks a port)."""
    pool = WorkerPool(config.max_concurrent, config.limits)
    interceptors = [TokenInterceptor(config.tokens)] if config.tokens else []
    server = grpc.server(
        # Slots for the solves plus room for info, health and immediate refusals.
        futures.ThreadPoolExecutor(max_workers=config.max_concurrent + 8),
        interceptors=interceptors,
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
        maximum_concurrent_rpcs=config.max_concurrent + 32,
    )
    jobs = None
    if config.data_dir is not None:
        jobs = JobManager(
            config.data_dir, config.limits, config.max_time_limit, config.dask_scheduler
        )
    servicer = PruningSolverServicer(
        pool,
        ServiceLimits(config.limits, config.max_concurrent, config.max_time_limit),
        requires_token=bool(config.tokens),
        jobs=jobs,
    )
    service_pb2_grpc.add_PruningSolverServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer()
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
    if config.tls_cert is not None:
        credentials = grpc.ssl_server_credentials([(config.tls_key, config.tls_cert)])
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        pool.close()
        if jobs is not None:
            jobs.close()
        raise OSError(f"cannot listen on {address}")
    server.start()
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server, port, pool, health_servicer, jobs)


def serve(config: ServerConfig) -> int:
    """Run until SIGTERM or SIGINT; then drain gracefully and return 0."""
    running = create_server(config)
    scheme = "tls" if config.tls_cert else "plaintext"
    log.info(
        "serving prunecert.v1.PruningSolver on %s:%d (%s, %s, %d workers)",
        config.host,
        running.port,
        scheme,
        "tokens required" if config.tokens else "no tokens",
        config.max_concurrent,
    )
    stopping = threading.Event()

    def on_signal(signum, frame) -> None:
        if not stopping.is_set():
            stopping.set()
            log.info("signal %d: stopping (grace %.0fs)", signum, config.grace_seconds)
            threading.Thread(target=running.stop, args=(config.grace_seconds,), daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    running.server.wait_for_termination()
    running.close_resources()
    log.info("stopped")
    return 0
