"""The gRPC service, in-process on port 0, through the generated stub and prunecert_client.

Every RPC against the local engine, streaming order, auth, TLS with a certificate made here,
limits, deadlines, cancellation, and each class of bad input. Real servers and worker processes
throughout (no mocks); servers are module-scoped because each one spawns its workers.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata

import grpc
import numpy as np
import pytest
from google.rpc import code_pb2, error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from prunecert.v1 import problem_pb2, service_pb2, service_pb2_grpc, solve_pb2
from prunecert_client import (
    BoundUpdate,
    Client,
    ClientError,
    ConnectionFailed,
    DeadlineExceeded,
    Finished,
    Incumbent,
    InvalidRequest,
    LogLine,
    NotFound,
    ResourceExhausted,
    Started,
    Tls,
    Unauthenticated,
)
from solver.core.parameters import SolveParameters
from solver.core.problem import (
    Mask,
    MinError,
    Network,
    Neuron,
    PointSet,
    Problem,
    PruningMode,
    Samples,
)
from solver.core.result import SolveStatus
from solver.core.validate import DEFAULT_LIMITS, Limits
from solver.engine import solve
from solver.exact.certify import certify_mask
from solver.instances.generate import paper_problem
from solver.io import convert
from solver.service.server import RunningServer, ServerConfig, create_server
from tests.support.tls import self_signed

pytestmark = pytest.mark.timeout(120)

TOKEN = "s3cret"
MODES = [PruningMode.NEURONS, PruningMode.WEIGHTS]
SERVICE = "prunecert.v1.PruningSolver"


# -- problems --------------------------------------------------------------------------------


def small(mode: PruningMode = PruningMode.NEURONS) -> Problem:
    """Solved to optimality in ~10 ms; the optimum (kept 3) beats pruning everything."""
    return paper_problem(2, 8, 2, mode, MinError(max_kept=3), points_per_axis=9)


def streamy() -> Problem:
    """~0.1 s, with two incumbents and ~10 bound updates: a stream with some history."""
    return paper_problem(2, 20, 5, PruningMode.WEIGHTS, MinError(max_kept=8), points_per_axis=21)


def long_problem() -> Problem:
    """Takes far longer than any test waits to be proven optimal (2 cores), and builds in a
    fraction of a second (21 x 21 points), so a few seconds' limit ends in the search, with a
    certified mask (docs/design.md §14)."""
    return paper_problem(2, 48, 2, PruningMode.WEIGHTS, MinError(), points_per_axis=21)


def solve_request(problem: Problem, **params) -> service_pb2.SolveRequest:
    return service_pb2.SolveRequest(
        problem=convert.problem_to_proto(problem),
        parameters=convert.parameters_to_proto(SolveParameters(**params)),
    )


def some_mask(problem: Problem) -> Mask:
    """A hand-made, non-optimal mask: a user's heuristic."""
    n, d = problem.network.n, problem.network.d
    if problem.pruning == PruningMode.NEURONS:
        return Mask(neurons=np.arange(n) % 2 == 0)
    hidden = (np.arange(n * d).reshape(n, d) % 3) != 1
    return Mask(hidden_weights=hidden, output_weights=np.arange(n) < n // 2)


def with_budget(problem: Problem, max_kept: int) -> Problem:
    return Problem(
        problem.network, problem.target, problem.domain, problem.pruning, MinError(max_kept)
    )


# -- servers -----------------------------------------------------------------------------------


@contextmanager
def running(config: ServerConfig) -> Iterator[RunningServer]:
    server = create_server(config)
    try:
        yield server
    finally:
        server.stop(0)


@contextmanager
def plain_stub(server: RunningServer) -> Iterator[service_pb2_grpc.PruningSolverStub]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield service_pb2_grpc.PruningSolverStub(channel)


def wait_until(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``condition()`` held; fails after ``timeout``."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"condition not met within {timeout} s"
        time.sleep(0.01)
    return time.monotonic() - start


def wait_idle(server: RunningServer, timeout: float = 5.0) -> float:
    return wait_until(lambda: server.pool.busy() == 0, timeout)


@pytest.fixture(scope="module")
def server():
    with running(ServerConfig(port=0, max_concurrent=2)) as srv:
        yield srv


@pytest.fixture(scope="module")
def stub(server):
    with plain_stub(server) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    with Client(f"127.0.0.1:{server.port}") as c:
        yield c


@pytest.fixture(scope="module")
def auth_server():
    with running(ServerConfig(port=0, max_concurrent=1, tokens=frozenset({TOKEN}))) as srv:
        yield srv


@pytest.fixture(scope="module")
def busy_server():
    """One solver slot and a small unit limit: for refusals and cancellation."""
    config = ServerConfig(port=0, max_concurrent=1, limits=Limits(max_units=64), queue_limit=0)
    with running(config) as srv:
        yield srv


@pytest.fixture(scope="module")
def busy_stub(busy_server):
    with plain_stub(busy_server) as s:
        yield s


@pytest.fixture(scope="module")
def capped_server():
    with running(ServerConfig(port=0, max_concurrent=1, max_time_limit=3.0)) as srv:
        yield srv


# -- status helpers ----------------------------------------------------------------------------


def field_violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    """The google.rpc.BadRequest field violations of a failed call, read from the raw status."""
    status = rpc_status.from_call(error)
    if status is None:
        return []
    assert status.code == getattr(code_pb2, error.code().name)
    assert status.message == error.details()
    out = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out += [(v.field, v.description) for v in bad.field_violations]
    return out


def rpc_error(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    code = info.value.code()
    assert code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), info.value.details()
    return info.value


def assert_same_as_local(result_status, error: float, kept: int, problem: Problem) -> None:
    local = solve(problem)
    assert local.status == SolveStatus.OPTIMAL
    assert int(result_status) == int(local.status)
    assert abs(error - local.solution.error) <= 1e-9
    assert kept <= problem.objective.max_kept


# -- 1. every RPC --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name.lower())
def test_solve_stub_matches_local_engine(stub, mode):
    problem = small(mode)
    reply = stub.Solve(solve_request(problem), timeout=60)
    assert reply.status == solve_pb2.SOLVE_STATUS_OPTIMAL
    assert_same_as_local(reply.status, reply.solution.error, reply.solution.kept, problem)
    assert reply.objective_bound <= reply.solution.error
    assert reply.stats.backend == "cpsat"
    # The returned mask really has the returned figures.
    cert = certify_mask(problem, convert.parse_mask(reply.solution.mask, problem))
    assert (cert.kept, cert.error_upper) == (reply.solution.kept, reply.solution.error)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name.lower())
def test_solve_client_matches_local_engine(client, mode):
    problem = small(mode)
    result = client.solve(problem, request_id="test-solve")
    assert result.status == SolveStatus.OPTIMAL
    assert_same_as_local(result.status, result.solution.error, result.solution.kept, problem)
    mask = result.solution.mask
    assert isinstance(
        mask.neurons if mode == PruningMode.NEURONS else mask.hidden_weights, np.ndarray
    )
    cert = certify_mask(problem, mask)
    assert (cert.kept, cert.error_upper) == (result.solution.kept, result.solution.error)


def test_client_accepts_parameters_as_keywords_or_dataclass(client):
    problem = small()
    a = client.solve(problem, time_limit=30, backend="cpsat", seed=3)
    b = client.solve(problem, SolveParameters(time_limit_seconds=30, backend="cpsat", seed=3))
    assert a.status == b.status == SolveStatus.OPTIMAL
    assert a.solution.error == b.solution.error


def check_stream_order(kinds: list[str], incumbent_times: list[float], times: list[float]):
    assert kinds[0] == "started"  # once a solver process has it: its id for StopSolve
    assert kinds.count("started") == 1
    assert kinds[-1] == "result"
    assert kinds.count("result") == 1
    assert len(kinds) >= 3, "no progress event before the result"
    assert "incumbent" in kinds
    assert incumbent_times == sorted(incumbent_times)
    assert times == sorted(times)


def test_solve_stream_stub_events_then_one_result(stub):
    problem = streamy()
    events = list(stub.SolveStream(solve_request(problem), timeout=60))
    kinds = [e.WhichOneof("kind") for e in events]
    check_stream_order(
        kinds,
        [e.elapsed_seconds for e in events if e.HasField("incumbent")],
        [e.elapsed_seconds for e in events],
    )
    result = events[-1].result
    assert result.status == solve_pb2.SOLVE_STATUS_OPTIMAL
    assert_same_as_local(result.status, result.solution.error, result.solution.kept, problem)
    bounds = [e.bound for e in events if e.HasField("bound")]
    assert bounds == sorted(bounds)
    assert all(b <= result.solution.error + 1e-9 for b in bounds)
    for e in events:
        if e.HasField("incumbent"):
            assert e.incumbent.kept <= 8


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name.lower())
def test_solve_stream_client_events_then_finished(client, mode):
    problem = streamy() if mode == PruningMode.WEIGHTS else small(mode)
    events = list(client.solve_stream(problem))
    assert all(
        isinstance(e, Started | Incumbent | BoundUpdate | LogLine | Finished) for e in events
    )
    names = {
        Started: "started",
        Incumbent: "incumbent",
        BoundUpdate: "bound",
        LogLine: "log",
        Finished: "result",
    }
    kinds = [names[type(e)] for e in events]
    check_stream_order(
        kinds,
        [e.elapsed_seconds for e in events if isinstance(e, Incumbent)],
        [e.elapsed_seconds for e in events],
    )
    result = events[-1].result
    assert result.status == SolveStatus.OPTIMAL
    assert_same_as_local(result.status, result.solution.error, result.solution.kept, problem)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name.lower())
def test_certify_stub_against_engine(stub, mode):
    problem = small(mode)
    mask = some_mask(problem)
    cert = certify_mask(problem, mask)
    request = service_pb2.CertifyRequest(
        problem=convert.problem_to_proto(problem), mask=convert.mask_to_proto(mask)
    )
    reply = stub.Certify(request, timeout=60)
    assert (reply.kept, reply.error) == (cert.kept, cert.error_upper)
    assert not reply.HasField("optimum")
    assert reply.gap == reply.ratio == 0.0

    request.compare_with_optimum = True
    reply = stub.Certify(request, timeout=60)
    assert (reply.kept, reply.error) == (cert.kept, cert.error_upper)
    local = solve(with_budget(problem, cert.kept))
    optimum = reply.optimum
    assert optimum.status == int(local.status) == solve_pb2.SOLVE_STATUS_OPTIMAL
    assert abs(optimum.solution.error - local.solution.error) <= 1e-9
    assert optimum.solution.kept <= cert.kept
    assert reply.gap >= -1e-9
    assert reply.gap == pytest.approx(reply.error - optimum.solution.error, abs=1e-9)
    assert reply.ratio == pytest.approx(reply.error / optimum.solution.error, rel=1e-12)
    assert reply.ratio >= 1.0 - 1e-12


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name.lower())
def test_certify_client_against_engine(client, mode):
    problem = small(mode)
    mask = some_mask(problem)
    cert = certify_mask(problem, mask)
    plain = client.certify(problem, mask)
    assert (plain.kept, plain.error) == (cert.kept, cert.error_upper)
    assert plain.optimum is None

    compared = client.certify(problem, mask, compare_with_optimum=True)
    assert (compared.kept, compared.error) == (cert.kept, cert.error_upper)
    local = solve(with_budget(problem, cert.kept))
    assert compared.optimum is not None
    assert compared.optimum.status == local.status == SolveStatus.OPTIMAL
    best = compared.optimum.solution.error
    assert abs(best - local.solution.error) <= 1e-9
    assert compared.gap >= -1e-9
    assert compared.gap == pytest.approx(compared.error - best, abs=1e-9)
    assert compared.ratio == pytest.approx(compared.error / best, rel=1e-12)


def test_certify_the_optimum_has_no_gap(client):
    problem = small()
    result = client.solve(problem)
    compared = client.certify(problem, result.solution.mask, compare_with_optimum=True)
    assert compared.error == result.solution.error
    assert compared.gap == pytest.approx(0.0, abs=1e-9)
    assert compared.ratio == pytest.approx(1.0, abs=1e-9)


def test_server_info_stub_and_client(server, stub, client):
    reply = stub.GetServerInfo(service_pb2.GetServerInfoRequest(), timeout=10)
    info = client.server_info()
    for got in (reply, info):
        assert got.version == metadata.version("prunecert")
        names = [b.name for b in got.backends]
        assert "cpsat" in names
        cpsat = got.backends[names.index("cpsat")]
        assert cpsat.version and cpsat.supports_early_stop
        assert got.max_units == DEFAULT_LIMITS.max_units
        assert got.max_input_dim == DEFAULT_LIMITS.max_input_dim
        assert got.max_points == DEFAULT_LIMITS.max_points
        assert got.max_weight_candidates == DEFAULT_LIMITS.max_weight_candidates
        assert got.max_concurrent_solves == 2
        assert got.max_time_limit_seconds == 300.0
        assert got.requires_token is False


def test_server_info_reports_configured_limits(busy_server, capped_server, auth_server):
    with Client(f"127.0.0.1:{busy_server.port}") as c:
        info = c.server_info()
    assert (info.max_units, info.max_concurrent_solves) == (64, 1)
    assert info.max_points == DEFAULT_LIMITS.max_points
    with Client(f"127.0.0.1:{capped_server.port}") as c:
        assert c.server_info().max_time_limit_seconds == 3.0
    with Client(f"127.0.0.1:{auth_server.port}", token=TOKEN) as c:
        assert c.server_info().requires_token is True


def test_health_reports_serving(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE):
            reply = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_one_structured_log_line_per_rpc(stub, caplog):
    with caplog.at_level(logging.INFO, logger="prunecert.rpc"):
        request = solve_request(small())
        request.request_id = "rid-42"
        stub.Solve(request, timeout=30)
        rpc_error(lambda: stub.Solve(service_pb2.SolveRequest(request_id="rid-43"), timeout=30))
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == "prunecert.rpc"]
    by_id = {r.get("request_id"): r for r in records}
    ok, bad = by_id["rid-42"], by_id["rid-43"]
    assert (ok["method"], ok["code"], ok["status"]) == ("Solve", "OK", "SOLVE_STATUS_OPTIMAL")
    assert ok["request_bytes"] == request.ByteSize() and ok["response_bytes"] > 0
    assert ok["duration_ms"] >= 0
    assert (bad["method"], bad["code"]) == ("Solve", "INVALID_ARGUMENT")
    assert "network" in bad["error"]


# -- 2. auth ---------------------------------------------------------------------------------------


def all_rpcs(stub, metadata) -> dict[str, Callable[[], object]]:
    problem = small()
    certify = service_pb2.CertifyRequest(
        problem=convert.problem_to_proto(problem), mask=convert.mask_to_proto(some_mask(problem))
    )
    return {
        "Solve": lambda: stub.Solve(solve_request(problem), timeout=30, metadata=metadata),
        "SolveStream": lambda: list(
            stub.SolveStream(solve_request(problem), timeout=30, metadata=metadata)
        ),
        "Certify": lambda: stub.Certify(certify, timeout=30, metadata=metadata),
        "GetServerInfo": lambda: stub.GetServerInfo(
            service_pb2.GetServerInfoRequest(), timeout=30, metadata=metadata
        ),
        "StopSolve": lambda: stub.StopSolve(
            service_pb2.StopSolveRequest(solve_id="x"), timeout=30, metadata=metadata
        ),
    }


@pytest.mark.parametrize(
    "metadata, message",
    [
        ((), "missing"),
        ((("authorization", "Bearer wrong"),), "invalid"),
        ((("authorization", TOKEN),), "invalid"),  # no scheme
        ((("authorization", f"Bearer {TOKEN}x"),), "invalid"),
    ],
    ids=["none", "wrong", "no-scheme", "prefix-of-token"],
)
def test_auth_rejects_missing_or_wrong_token(auth_server, metadata, message):
    with plain_stub(auth_server) as s:
        for name, call in all_rpcs(s, metadata).items():
            err = rpc_error(call)
            assert err.code() == grpc.StatusCode.UNAUTHENTICATED, name
            assert message in err.details() and "token" in err.details(), name


def test_auth_accepts_the_right_token(auth_server):
    with plain_stub(auth_server) as s:
        calls = all_rpcs(s, (("authorization", f"Bearer {TOKEN}"),))
        # Authenticated, then refused for what it asks: there is no solve "x" to stop.
        assert rpc_error(calls.pop("StopSolve")).code() == grpc.StatusCode.NOT_FOUND
        results = {name: call() for name, call in calls.items()}
    assert results["Solve"].status == solve_pb2.SOLVE_STATUS_OPTIMAL
    assert results["SolveStream"][-1].result.status == solve_pb2.SOLVE_STATUS_OPTIMAL
    assert results["Certify"].kept == 4
    assert results["GetServerInfo"].requires_token


def test_health_needs_no_token(auth_server):
    with grpc.insecure_channel(f"127.0.0.1:{auth_server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE):
            reply = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_client_token_maps_to_unauthenticated(auth_server):
    address = f"127.0.0.1:{auth_server.port}"
    problem = small()
    for token in (None, "wrong"):
        with Client(address, token=token) as c:
            for call in (
                lambda c=c: c.solve(problem),
                lambda c=c: list(c.solve_stream(problem)),
                lambda c=c: c.certify(problem, some_mask(problem)),
                lambda c=c: c.server_info(),
            ):
                with pytest.raises(Unauthenticated) as info:
                    call()
                assert info.value.code == grpc.StatusCode.UNAUTHENTICATED
    with Client(address, token=TOKEN) as c:
        assert c.solve(problem).status == SolveStatus.OPTIMAL
        assert c.server_info().requires_token


# -- 3. TLS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server():
    cert, key = self_signed()
    config = ServerConfig(host="127.0.0.1", port=0, max_concurrent=1, tls_cert=cert, tls_key=key)
    with running(config) as srv:
        yield srv, cert


def test_tls_client_solves(tls_server):
    srv, cert = tls_server
    problem = small()
    with Client(f"localhost:{srv.port}", tls=Tls(root_certificate=cert)) as c:
        result = c.solve(problem, timeout=30)
        assert result.status == SolveStatus.OPTIMAL
        assert_same_as_local(result.status, result.solution.error, result.solution.kept, problem)
        assert c.server_info().max_concurrent_solves == 1
    with Client(
        f"127.0.0.1:{srv.port}", tls=Tls(root_certificate=cert, server_name="localhost")
    ) as c:
        assert c.solve(problem, timeout=30).status == SolveStatus.OPTIMAL


def test_tls_stub_and_health(tls_server):
    srv, cert = tls_server
    credentials = grpc.ssl_channel_credentials(root_certificates=cert)
    with grpc.secure_channel(f"localhost:{srv.port}", credentials) as channel:
        events = list(
            service_pb2_grpc.PruningSolverStub(channel).SolveStream(
                solve_request(small()), timeout=30
            )
        )
        assert events[-1].result.status == solve_pb2.SOLVE_STATUS_OPTIMAL
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_plaintext_client_cannot_talk_to_tls_server(tls_server):
    srv, _ = tls_server
    with Client(f"127.0.0.1:{srv.port}") as c:
        with pytest.raises((ConnectionFailed, DeadlineExceeded)) as info:
            c.server_info(timeout=2.0)
    assert isinstance(info.value, ClientError)


def test_tls_client_rejects_an_untrusted_certificate(tls_server):
    srv, _ = tls_server
    stranger, _ = self_signed()
    with Client(f"localhost:{srv.port}", tls=Tls(root_certificate=stranger)) as c:
        with pytest.raises((ConnectionFailed, DeadlineExceeded)):
            c.server_info(timeout=2.0)


# -- 4. limits -------------------------------------------------------------------------------------


def test_busy_server_refuses_at_once_and_keeps_answering(busy_server, busy_stub):
    running_call = busy_stub.Solve.future(solve_request(long_problem()), timeout=60)
    try:
        wait_until(lambda: busy_server.pool.busy() == 1, 10)
        problem = small()
        for name, call in all_rpcs(busy_stub, ()).items():
            if name in ("GetServerInfo", "StopSolve"):  # need no solver process
                continue
            start = time.monotonic()
            err = rpc_error(call)
            assert time.monotonic() - start < 1.0, "a busy server queued instead of refusing"
            assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, name
            assert "concurrent" in err.details() and re.search(r"\b1\b", err.details()), name
        with Client(f"127.0.0.1:{busy_server.port}") as c:
            with pytest.raises(ResourceExhausted) as info:
                c.solve(problem)
            assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            # What needs no worker is still served.
            assert c.server_info().max_concurrent_solves == 1
        assert not running_call.done()
    finally:
        running_call.cancel()
    # Cancelling the unary call frees its worker too (timed in the cancellation tests below).
    wait_idle(busy_server, 10.0)


@pytest.mark.parametrize(
    "problem, field, limit",
    [
        (paper_problem(2, 65, 1, PruningMode.NEURONS, points_per_axis=5), "network", "64"),
        (paper_problem(2, 8, 1, PruningMode.NEURONS, points_per_axis=448), "domain", "200000"),
    ],
    ids=["units", "points"],
)
def test_problem_over_size_limits_is_resource_exhausted(
    busy_stub, busy_server, problem, field, limit
):
    err = rpc_error(lambda: busy_stub.Solve(solve_request(problem), timeout=30))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert field in err.details() and limit in err.details()
    fields = [f for f, _ in field_violations(err)]
    assert fields and all(f.startswith(field) for f in fields)
    with Client(f"127.0.0.1:{busy_server.port}") as c:
        with pytest.raises(ResourceExhausted) as info:
            c.solve(problem)
        assert [f for f, _ in info.value.violations] == fields
        assert c.solve(small()).status == SolveStatus.OPTIMAL


def test_max_time_limit_caps_the_solve(capped_server):
    problem = long_problem()
    with plain_stub(capped_server) as s:
        start = time.monotonic()
        reply = s.Solve(solve_request(problem), timeout=60)
        took = time.monotonic() - start
    assert reply.status == solve_pb2.SOLVE_STATUS_FEASIBLE
    assert "time limit" in reply.detail
    assert reply.solution.kept > 0 and reply.objective_bound <= reply.solution.error
    assert took < 20.0  # the 3 s cap, not the 60 s deadline or the 120 s asked for
    with Client(f"127.0.0.1:{capped_server.port}") as c:
        start = time.monotonic()
        result = c.solve(problem, time_limit=120, timeout=60)  # asks for more than allowed
        took = time.monotonic() - start
    assert result.status == SolveStatus.FEASIBLE
    assert took < 20.0  # the 3 s cap, not the 60 s deadline or the 120 s asked for
    wait_idle(capped_server)


# -- 5. deadlines and cancellation ----------------------------------------------------------------

# Observed on 2 cores: with a 2 s deadline the server caps the engine at ~1.75 s, the engine's
# reply (it overshoots its limit by ~0.2 s) reaches the client at 1.98-2.00 s, so either outcome
# occurs run to run. Both are accepted; what must hold is that the call ends near the deadline.
DEADLINE = 2.0


def test_deadline_caps_a_long_solve_stub(server, stub):
    wait_idle(server)
    start = time.monotonic()
    try:
        reply = stub.Solve(solve_request(long_problem()), timeout=DEADLINE)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    else:
        assert reply.status == solve_pb2.SOLVE_STATUS_FEASIBLE
        assert "time limit" in reply.detail
        assert reply.stats.wall_time_seconds < DEADLINE
    assert time.monotonic() - start < DEADLINE + 1.0
    wait_idle(server, 10.0)  # the worker comes back (cancellation is timed below)


def test_deadline_caps_a_long_solve_client(server, client):
    wait_idle(server)
    start = time.monotonic()
    try:
        result = client.solve(long_problem(), timeout=DEADLINE)
    except DeadlineExceeded as exc:
        assert exc.code == grpc.StatusCode.DEADLINE_EXCEEDED
    else:
        assert result.status == SolveStatus.FEASIBLE
        assert result.solution is not None
    assert time.monotonic() - start < DEADLINE + 1.0
    wait_idle(server, 10.0)  # the worker comes back (cancellation is timed below)


def first_free_solve(stub, since: float, limit: float = 2.0) -> tuple[float, solve_pb2.SolveResult]:
    """Poll a small Solve until a worker takes it: (seconds from ``since``, its reply)."""
    request = solve_request(small())
    while True:
        attempt = time.monotonic()
        try:
            return attempt - since, stub.Solve(request, timeout=30)
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.details()
            assert time.monotonic() - since < limit, "the worker was not freed"
            time.sleep(0.01)


def test_cancelling_a_stream_frees_the_worker_stub(busy_server, busy_stub):
    wait_idle(busy_server)
    call = busy_stub.SolveStream(solve_request(long_problem()), timeout=60)
    first = next(call)
    assert first.WhichOneof("kind") != "result"
    start = time.monotonic()
    call.cancel()
    freed, reply = first_free_solve(busy_stub, start)
    assert freed <= 1.5
    assert reply.status == solve_pb2.SOLVE_STATUS_OPTIMAL
    with pytest.raises(grpc.RpcError) as info:
        for _ in call:
            pass
    assert info.value.code() == grpc.StatusCode.CANCELLED


def test_leaving_a_client_stream_frees_the_worker(busy_server, busy_stub):
    wait_idle(busy_server)
    with Client(f"127.0.0.1:{busy_server.port}") as c:
        events = c.solve_stream(long_problem(), timeout=60)
        first = next(events)
        assert not isinstance(first, Finished)
        start = time.monotonic()
        events.close()  # what breaking out of the loop does
        freed, reply = first_free_solve(busy_stub, start)
    assert freed <= 1.5
    assert reply.status == solve_pb2.SOLVE_STATUS_OPTIMAL


# -- 6. bad input ----------------------------------------------------------------------------------


def _samples_with_domain(p: problem_pb2.Problem, s: solve_pb2.SolveParameters) -> None:
    samples = p.target.samples  # replaces the neuron target; the box domain stays
    samples.points.rows, samples.points.cols = 2, 2
    samples.points.values[:] = [0.0, 0.5, 1.0, -1.0]
    samples.values[:] = [0.0, 1.0]


def _set(path: str, value) -> Callable[[problem_pb2.Problem, solve_pb2.SolveParameters], None]:
    def mutate(p, s):
        obj, *attrs = path.split(".")
        target = {"problem": p, "parameters": s}[obj]
        for attr in attrs[:-1]:
            target = getattr(target, attr)
        setattr(target, attrs[-1], value)

    return mutate


def _drop_last_weight(p, s) -> None:
    del p.network.hidden_weights.values[-1]


def _nan_output_weight(p, s) -> None:
    p.network.output_weights[2] = math.nan


BAD = {
    "matrix-size": (_drop_last_weight, "INVALID_ARGUMENT", "network.hidden_weights"),
    "nan-weight": (_nan_output_weight, "INVALID_ARGUMENT", "network.output_weights"),
    "nan-domain": (_set("problem.domain.box_grid.low", math.nan), "INVALID_ARGUMENT", "domain"),
    "unspecified-pruning": (_set("problem.pruning", 0), "INVALID_ARGUMENT", "pruning"),
    "samples-with-domain": (_samples_with_domain, "INVALID_ARGUMENT", "domain"),
    "no-objective": (lambda p, s: p.ClearField("objective"), "INVALID_ARGUMENT", "objective"),
    "negative-time-limit": (
        _set("parameters.time_limit_seconds", -1.0),
        "INVALID_ARGUMENT",
        "parameters.time_limit_seconds",
    ),
    "nan-tolerance": (
        _set("parameters.tolerance", math.nan),
        "INVALID_ARGUMENT",
        "parameters.tolerance",
    ),
    "unknown-backend": (_set("parameters.backend", "gurobi"), "NOT_FOUND", None),
}


def bad_requests(case: str):
    mutate, code, field = BAD[case]
    problem = small()
    p, s = convert.problem_to_proto(problem), solve_pb2.SolveParameters()
    mutate(p, s)
    mask = convert.mask_to_proto(some_mask(problem))
    return (
        service_pb2.SolveRequest(problem=p, parameters=s),
        service_pb2.CertifyRequest(problem=p, mask=mask, parameters=s),
        getattr(grpc.StatusCode, code),
        field,
    )


def assert_still_serving(stub) -> None:
    assert stub.Solve(solve_request(small()), timeout=30).status == solve_pb2.SOLVE_STATUS_OPTIMAL


@pytest.mark.parametrize("rpc", ["Solve", "SolveStream", "Certify"])
@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_stub(stub, case, rpc):
    solve_req, certify_req, code, field = bad_requests(case)
    call = {
        "Solve": lambda: stub.Solve(solve_req, timeout=30),
        "SolveStream": lambda: list(stub.SolveStream(solve_req, timeout=30)),
        "Certify": lambda: stub.Certify(certify_req, timeout=30),
    }[rpc]
    start = time.monotonic()
    err = rpc_error(call)
    assert time.monotonic() - start < 1.0  # refused in the RPC thread, no solve
    assert err.code() == code, err.details()
    violations = field_violations(err)
    if field is None:
        assert "gurobi" in err.details() and violations == []
    else:
        assert violations, err.details()
        assert all(f.startswith(field) and desc for f, desc in violations), violations
        assert field in err.details()
    assert_still_serving(stub)


def _nan_weights(problem: Problem) -> Problem:
    net = problem.network
    weights = net.output_weights.copy()
    weights[2] = math.nan
    bad = type(net)(
        net.hidden_weights, weights, net.hidden_biases, net.output_bias, net.output_activation
    )
    return Problem(bad, problem.target, problem.domain, problem.pruning, problem.objective)


def _samples_domain(problem: Problem) -> Problem:
    samples = Samples(points=np.array([[0.0, 0.5], [1.0, -1.0]]), values=np.array([0.0, 1.0]))
    return Problem(problem.network, samples, problem.domain, problem.pruning, problem.objective)


def _unspecified(problem: Problem) -> Problem:
    return Problem(
        problem.network, problem.target, problem.domain, PruningMode.UNSPECIFIED, problem.objective
    )


@pytest.mark.parametrize(
    "make, params, field",
    [
        (_nan_weights, {}, "network.output_weights"),
        (_samples_domain, {}, "domain"),
        (_unspecified, {}, "pruning"),
        (lambda p: p, {"time_limit_seconds": -1.0}, "parameters.time_limit_seconds"),
    ],
    ids=["nan-weight", "samples-with-domain", "unspecified-pruning", "negative-time-limit"],
)
def test_bad_input_client(client, stub, make, params, field):
    problem = make(small())
    for call in (
        lambda: client.solve(problem, **params),
        lambda: list(client.solve_stream(problem, **params)),
    ):
        with pytest.raises(InvalidRequest) as info:
            call()
        assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert field in [f for f, _ in info.value.violations]
    assert_still_serving(stub)


def test_unknown_backend_client(client, stub):
    with pytest.raises(NotFound) as info:
        client.solve(small(), backend="gurobi")
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert "gurobi" in str(info.value)
    assert_still_serving(stub)


@pytest.mark.parametrize(
    "mode, mask, fields",
    [
        (PruningMode.NEURONS, solve_pb2.Mask(neurons=[True] * 5), ["mask.neurons"]),
        (PruningMode.NEURONS, solve_pb2.Mask(), ["mask.neurons"]),
        (
            PruningMode.WEIGHTS,
            solve_pb2.Mask(neurons=[True] * 8),
            ["mask.hidden_weights", "mask.output_weights", "mask.neurons"],
        ),
        (
            PruningMode.WEIGHTS,
            solve_pb2.Mask(hidden_weights=[True] * 15, output_weights=[True] * 8),
            ["mask.hidden_weights"],
        ),
    ],
    ids=["short", "missing", "neurons-in-weights-mode", "short-hidden"],
)
def test_certify_bad_mask_stub(stub, mode, mask, fields):
    request = service_pb2.CertifyRequest(problem=convert.problem_to_proto(small(mode)), mask=mask)
    err = rpc_error(lambda: stub.Certify(request, timeout=30))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations(err)] == fields
    assert_still_serving(stub)


def test_certify_bad_mask_client(client, stub):
    problem = small()
    with pytest.raises(InvalidRequest) as info:
        client.certify(problem, Mask(neurons=np.ones(5, dtype=bool)), compare_with_optimum=True)
    assert [f for f, _ in info.value.violations] == ["mask.neurons"]
    assert "expected 8 values, got 5" in info.value.violations[0][1]
    assert_still_serving(stub)


def _overflowing_box(p, s) -> None:
    # Finite, ordered ends whose span (high - low) overflows a double.
    p.domain.box_grid.low, p.domain.box_grid.high = -1e308, 1e308


@pytest.mark.parametrize("rpc", ["Solve", "Certify"])
def test_overflowing_box_grid_is_invalid_argument(stub, rpc):
    problem = small()
    p = convert.problem_to_proto(problem)
    _overflowing_box(p, None)
    mask = convert.mask_to_proto(some_mask(problem))
    with pytest.raises(grpc.RpcError) as info:
        if rpc == "Solve":
            stub.Solve(service_pb2.SolveRequest(problem=p), timeout=30)
        else:
            stub.Certify(service_pb2.CertifyRequest(problem=p, mask=mask), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (
        info.value.code(),
        info.value.details(),
    )
    assert_still_serving(stub)


def test_a_problem_within_the_advertised_limits_reaches_validation(stub):
    rng = np.random.default_rng(0)
    d, m = DEFAULT_LIMITS.max_input_dim, 33_000
    assert m <= DEFAULT_LIMITS.max_points
    network = Network(rng.uniform(-1, 1, (2, d)), rng.uniform(-1, 1, 2))
    target = Neuron(rng.uniform(-1, 1, d))
    problem = Problem(network, target, PointSet(rng.uniform(-1, 1, (m, d))), PruningMode.NEURONS)
    # A negative time limit: once the request gets through, validation refuses it at once.
    request = solve_request(problem, time_limit_seconds=-1.0)
    assert request.ByteSize() > 4 * 1024 * 1024
    err = rpc_error(lambda: stub.Solve(request, timeout=60))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
    assert [f for f, _ in field_violations(err)] == ["parameters.time_limit_seconds"]


def test_every_uint32_seed_is_accepted_or_rejected_by_name(stub):
    """The proto allows any uint32 seed; CP-SAT takes an int32 (this once came back INTERNAL)."""
    request = solve_request(small())
    request.parameters.seed = 2**31
    try:
        reply = stub.Solve(request, timeout=30)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
        assert [f for f, _ in field_violations(err)] == ["parameters.seed"]
    else:
        assert reply.status == solve_pb2.SOLVE_STATUS_OPTIMAL
    finally:
        assert_still_serving(stub)
