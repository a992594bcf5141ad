"""`prunecert serve`: the gRPC solver service, configured from flags."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from solver.io.wire import MAX_MESSAGE_BYTES

DEFAULT_DATA_DIR = Path("~") / ".local" / "share" / "prunecert"


def quiet_dask() -> None:
    """Dask's own loggers at WARNING: its INFO lines (about 50 as a local cluster starts, an
    advert for jupyter-server-proxy among them) would drown the server's own. Dask applies its
    ``logging`` config when `distributed` is imported, here and in every worker process it
    spawns, resetting levels set before; the config's environment form reaches them all."""
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    logging.getLogger("distributed").setLevel(logging.WARNING)


def run(args: argparse.Namespace) -> int:
    # The safety checks (no tokens off loopback without --insecure, TLS certificate and key
    # together) are the server's own, so a server started from Python gets them too.
    quiet_dask()
    from solver.service.server import load_config, serve

    config = load_config(
        tokens_file=args.token_file,
        tls_cert_file=args.tls_cert,
        tls_key_file=args.tls_key,
        host=args.host,
        port=args.port,
        insecure=args.insecure,
        max_concurrent=args.max_concurrent,
        max_time_limit=args.max_time_limit,
        grace_seconds=args.grace,
        solve_margin_seconds=args.solve_margin,
        data_dir=args.data_dir,
        dask_scheduler=args.dask_scheduler,
        dask_dashboard=args.dask_dashboard,
        max_streams=args.max_streams,
        max_streams_per_tenant=args.max_streams_per_tenant,
        max_request_bytes=args.max_request_bytes,
        worker_memory_bytes=args.worker_memory,
        queue_limit=args.queue_limit,
        max_queue_wait_seconds=args.max_queue_wait,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        max_calls_per_connection=args.max_calls_per_connection,
        max_connection_idle_seconds=args.max_connection_idle,
        max_connection_age_seconds=args.max_connection_age,
        max_connection_age_grace_seconds=args.max_connection_age_grace,
        min_ping_interval_seconds=args.min_ping_interval,
        receive_timeout_seconds=args.receive_timeout,
    )
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    return serve(config)


def add_parser(subparsers) -> None:
    srv = subparsers.add_parser("serve", help="run the gRPC solver service")
    srv.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; off loopback needs --token-file or "
        "--insecure)",
    )
    srv.add_argument("--port", type=int, default=50051, help="port (default 50051; 0: any free)")
    srv.add_argument(
        "--token-file",
        "--tokens-file",
        dest="token_file",
        help="bearer tokens, one per line; required off loopback (default: none, no auth). "
        "--tokens-file is the old name",
    )
    srv.add_argument(
        "--tls-cert", help="PEM certificate chain, with --tls-key (default: none, plaintext)"
    )
    srv.add_argument("--tls-key", help="PEM private key, with --tls-cert (default: none)")
    srv.add_argument("--max-concurrent", type=int, default=2, help="solver processes (default 2)")
    srv.add_argument(
        "--queue-limit",
        type=int,
        default=None,
        metavar="N",
        help="calls that may wait at once for a busy solver process, first come first served; "
        "past it a call gets RESOURCE_EXHAUSTED at once (default 2 x --max-concurrent; "
        "0: no queue)",
    )
    srv.add_argument(
        "--max-queue-wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="longest a call waits in that queue (it also stops just before its own deadline), "
        "then it gets RESOURCE_EXHAUSTED (default 30; 0: no queue)",
    )
    srv.add_argument(
        "--max-time-limit",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="cap on every solve's time limit (default 300)",
    )
    srv.add_argument(
        "--grace",
        type=float,
        default=10.0,
        help="seconds in-flight solves get on shutdown (default 10)",
    )
    srv.add_argument(
        "--solve-margin",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="a solve that has not answered by its time limit plus this is stopped and its "
        "worker replaced (default 30)",
    )
    srv.add_argument(
        "--max-streams",
        type=int,
        default=16,
        help="streaming RPCs (WatchJob, GetJobResults, SolveStream, reflection) open at once; "
        "beyond it a stream is refused with RESOURCE_EXHAUSTED (default 16)",
    )
    srv.add_argument(
        "--max-streams-per-tenant",
        type=int,
        default=8,
        help="streaming RPCs one caller (token) may hold open at once (default 8)",
    )
    srv.add_argument(
        "--max-request-bytes",
        type=int,
        default=MAX_MESSAGE_BYTES,
        metavar="BYTES",
        help="request bytes being handled at once; a request past it is refused unparsed "
        "with RESOURCE_EXHAUSTED (default: the largest message, 256 MiB)",
    )
    srv.add_argument(
        "--worker-memory",
        type=int,
        default=4 * 1024**3,
        metavar="BYTES",
        help="a solver process's memory budget: a problem whose model is estimated past it "
        "is refused with RESOURCE_EXHAUSTED before it is built (default 4 GiB)",
    )
    srv.add_argument(
        "--insecure",
        action="store_true",
        help="allow non-loopback without tokens (default: refused)",
    )
    srv.add_argument(
        "--data-dir",
        default=str(Path.home() / DEFAULT_DATA_DIR.relative_to("~")),
        help=f"the job store's directory, SQLite (default {DEFAULT_DATA_DIR}, printed at start)",
    )
    srv.add_argument(
        "--dask-scheduler",
        default=None,
        metavar="ADDRESS",
        help="run job items on this Dask scheduler (default: a local cluster of one worker "
        "process per core, on loopback, started with the first job; printed at start)",
    )
    srv.add_argument(
        "--dask-dashboard",
        default=None,
        metavar="HOST:PORT",
        help="serve the local cluster's Dask dashboard there (loopback unless --insecure; "
        "default: no dashboard)",
    )
    srv.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics over HTTP on this port (/metrics; 0: any free port, "
        "printed at start; default: no metrics endpoint)",
    )
    srv.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address of the metrics endpoint, which has no authentication (default 127.0.0.1)",
    )
    connection_flags(srv)
    srv.set_defaults(func=run)


def connection_flags(srv: argparse.ArgumentParser) -> None:
    """The connection limits (gRPC server options and the receive timeout; issue 15); the
    defaults are ServerConfig's (solver.service.server, which this module does not import:
    building the parser must not load grpc)."""
    srv.add_argument(
        "--max-calls-per-connection",
        type=int,
        default=32,
        metavar="N",
        help="calls (HTTP/2 streams) one connection may have open at once; a client over it "
        "waits for one to end (default 32)",
    )
    srv.add_argument(
        "--max-connection-idle",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="close a connection that has had no call for SECONDS; clients reconnect when "
        "needed (default 300)",
    )
    srv.add_argument(
        "--max-connection-age",
        type=float,
        default=None,
        metavar="SECONDS",
        help="ask a connection this old to go away: new calls go to a new connection "
        "(default: no age limit)",
    )
    srv.add_argument(
        "--max-connection-age-grace",
        type=float,
        default=None,
        metavar="SECONDS",
        help="with --max-connection-age: cancel the calls still running SECONDS after that; "
        "they include long solves and job watches (default: no limit, they run to their end)",
    )
    srv.add_argument(
        "--min-ping-interval",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="clients may ping a connection without calls at most every SECONDS; a client "
        "pinging more often is disconnected (default 300, gRPC's)",
    )
    srv.add_argument(
        "--receive-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="cancel a call whose request has not arrived whole SECONDS after the server "
        "began reading it (slow senders; default 30)",
    )
