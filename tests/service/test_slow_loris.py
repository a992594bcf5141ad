"""Slow senders (issue 15): clients that open unary calls and never send their request must not
starve everyone else's unary calls. Real servers; attackers on connections of their own keep
their calls open, reopening each one the server ends. No timing is asserted: the calls succeed.
The figures are bench/soak.py's ("slow loris")."""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from prunecert.v1 import service_pb2, service_pb2_grpc
from solver.core.problem import MinError, PruningMode
from solver.instances.generate import paper_problem
from solver.io import convert
from solver.service.server import ServerConfig, create_server
from tests.support.servers import cli

pytestmark = pytest.mark.timeout(120)

TOKEN = "slow-loris-token-0123456789"
SOLVE = "/prunecert.v1.PruningSolver/Solve"
INFO = "/prunecert.v1.PruningSolver/GetServerInfo"


@contextmanager
def running(**settings) -> Iterator[str]:
    server = create_server(ServerConfig(port=0, max_concurrent=1, **settings))
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        server.stop(0)


def never_sends(release: threading.Event):
    release.wait(60)
    return
    yield  # pragma: no cover


@contextmanager
def slow_clients(
    address: str, connections: int, calls: int, metadata=()
) -> Iterator[collections.Counter]:
    """``connections`` connections, each keeping ``calls`` unary calls open that never send a
    request; yields the codes the server ended them with (counted as they end)."""
    release = threading.Event()
    ended: collections.Counter = collections.Counter()
    opened = threading.Barrier(connections + 1)

    def attack(index: int) -> None:
        options = [("test.slow_connection", index)]  # a connection of its own
        with grpc.insecure_channel(address, options=options) as channel:
            futures: list = [None] * calls
            first = True
            while not release.is_set():
                for number, future in enumerate(futures):
                    if future is not None and not future.done():
                        continue
                    if future is not None:
                        error = future.exception()
                        ended[error.code().name if error else "OK"] += 1
                    method = channel.stream_unary(INFO if number % 2 else SOLVE)
                    futures[number] = method.future(
                        never_sends(release), timeout=60, metadata=metadata
                    )
                if first:
                    first = False
                    opened.wait()
                release.wait(0.05)
            for future in futures:
                future.cancel()

    threads = [threading.Thread(target=attack, args=(i,), daemon=True) for i in range(connections)]
    for thread in threads:
        thread.start()
    opened.wait()
    try:
        yield ended
    finally:
        release.set()
        for thread in threads:
            thread.join(30)


def small_request(metadata=()) -> service_pb2.SolveRequest:
    problem = paper_problem(2, 4, 1, PruningMode.NEURONS, MinError(2), points_per_axis=5)
    return service_pb2.SolveRequest(problem=convert.problem_to_proto(problem))


def served_while_attacked(address: str, metadata=()) -> None:
    """Health, GetServerInfo and a Solve, three times each, from a connection of their own."""
    with grpc.insecure_channel(address, options=[("test.probe", 1)]) as channel:
        stub = service_pb2_grpc.PruningSolverStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(3):
            check = health.Check(health_pb2.HealthCheckRequest(), timeout=30)
            assert check.status == health_pb2.HealthCheckResponse.SERVING
            info = stub.GetServerInfo(
                service_pb2.GetServerInfoRequest(), timeout=30, metadata=metadata
            )
            assert info.max_concurrent_solves == 1
            result = stub.Solve(small_request(), timeout=30, metadata=metadata)
            assert result.HasField("solution")


def test_unary_calls_are_served_while_slow_senders_hold_connections():
    with running() as address, slow_clients(address, connections=3, calls=4) as ended:
        served_while_attacked(address)
    # The server ended slow calls to make room (they are reopened at once).
    assert ended["CANCELLED"] > 0, ended


def test_one_tenant_sending_slowly_does_not_starve_another():
    other = "other-tenant-token-0123456789"
    attacker = (("authorization", f"Bearer {TOKEN}"),)
    with (
        running(tokens=frozenset({TOKEN, other})) as address,
        slow_clients(address, connections=3, calls=4, metadata=attacker),
    ):
        served_while_attacked(address, (("authorization", f"Bearer {other}"),))


def test_callers_without_a_token_are_refused_unread():
    """On a server with tokens, calls without one end UNAUTHENTICATED at once, before their
    request is read: they hold no receive slot, however slowly they send."""
    with (
        running(tokens=frozenset({TOKEN})) as address,
        slow_clients(address, connections=3, calls=4) as ended,
    ):
        served_while_attacked(address, (("authorization", f"Bearer {TOKEN}"),))
    assert set(ended) == {"UNAUTHENTICATED"}, ended


def test_a_request_that_does_not_arrive_is_cancelled_after_the_receive_timeout():
    """One slow call, nothing else: no contention, so only the receive timeout ends it."""
    with running(receive_timeout_seconds=0.5) as address:
        with grpc.insecure_channel(address) as channel:
            release = threading.Event()
            future = channel.stream_unary(INFO).future(never_sends(release), timeout=60)
            try:
                error = future.exception(timeout=60)
            finally:
                release.set()
    assert error is not None and error.code() == grpc.StatusCode.CANCELLED


def test_connection_options_reach_grpc():
    config = ServerConfig(
        max_calls_per_connection=8,
        max_connection_idle_seconds=60,
        max_connection_age_seconds=3600,
        max_connection_age_grace_seconds=600,
        min_ping_interval_seconds=30,
    )
    options = dict(config.grpc_options())
    assert options["grpc.max_concurrent_streams"] == 8
    assert options["grpc.max_connection_idle_ms"] == 60_000
    assert options["grpc.max_connection_age_ms"] == 3_600_000
    assert options["grpc.max_connection_age_grace_ms"] == 600_000
    assert options["grpc.http2.min_ping_interval_without_data_ms"] == 30_000
    # No age limit unless asked for: long solves and job watches keep their connection.
    assert "grpc.max_connection_age_ms" not in dict(ServerConfig().grpc_options())
    # A server with every option set serves.
    with running(
        max_calls_per_connection=4,
        max_connection_idle_seconds=60,
        max_connection_age_seconds=3600,
        max_connection_age_grace_seconds=600,
        min_ping_interval_seconds=30,
    ) as address:
        served_while_attacked(address)


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--max-calls-per-connection", "0"),
        ("--max-connection-idle", "0"),
        ("--max-connection-age", "-1"),
        ("--max-connection-age-grace", "nan"),
        ("--min-ping-interval", "1e12"),
        ("--receive-timeout", "0"),
    ],
)
def test_bad_connection_flags_are_one_line_naming_the_flag(flag, value, tmp_path):
    done = cli("serve", "--port", "0", "--data-dir", str(tmp_path), flag, value, timeout=60)
    assert done.returncode == 2, done.stderr
    assert flag in done.stderr and "Traceback" not in done.stderr
