"""The bounded solve queue against a real `prunecert serve` process (issue 13, item 6).

A busy server used to refuse a third remote solve at once. Now a call waits its turn, first come
first served, up to the server's queue wait limit or just before its own deadline, and at most
--queue-limit calls wait; past either it gets RESOURCE_EXHAUSTED as before. GetServerInfo and the
call's own stats report the waits, and health and GetServerInfo answer with the queue full.

One solver process throughout; a long solve streamed to the test holds it while calls queue, so
every wait below is set up by the test, not by timing. No assertion is on a duration.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from prunecert.v1 import service_pb2, service_pb2_grpc, solve_pb2
from solver.core.parameters import SolveParameters
from solver.core.problem import MinError, PruningMode
from solver.instances.generate import paper_problem
from solver.io import convert
from solver.service.server import ServerConfig
from tests.support.servers import serving

pytestmark = pytest.mark.timeout(180)

QUEUE_LIMIT = 8


def solve_request(problem, **params) -> service_pb2.SolveRequest:
    return service_pb2.SolveRequest(
        problem=convert.problem_to_proto(problem),
        parameters=convert.parameters_to_proto(SolveParameters(**params)),
    )


def small_request(seed: int = 2) -> service_pb2.SolveRequest:
    """Solved to optimality in milliseconds."""
    return solve_request(
        paper_problem(2, 8, seed, PruningMode.NEURONS, MinError(max_kept=3), points_per_axis=9)
    )


def long_request() -> service_pb2.SolveRequest:
    """Far longer than any test waits to be proven optimal: it holds the solver process."""
    return solve_request(paper_problem(2, 48, 2, PruningMode.WEIGHTS), time_limit_seconds=120)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"not within {timeout} s: {what}"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("queue")
    flags = ("--max-concurrent", "1", "--queue-limit", str(QUEUE_LIMIT), "--max-queue-wait", "60")
    with serving(directory, *flags) as served:
        yield served


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.remote) as ch:
        yield ch


@pytest.fixture
def stub(channel):
    return service_pb2_grpc.PruningSolverStub(channel)


def info(stub) -> service_pb2.ServerInfo:
    return stub.GetServerInfo(service_pb2.GetServerInfoRequest(), timeout=5)


class Holder:
    """A long SolveStream holding the one solver process until ``release``."""

    def __init__(self, stub):
        wait_until(lambda: info(stub).busy_solves == 0, "the solver process is free")
        self.call = stub.SolveStream(long_request(), timeout=150)
        first = next(self.call)  # the solve runs: the process is taken
        assert first.WhichOneof("kind") != "result"

    def release(self) -> None:
        self.call.cancel()


def queue_up(stub, count: int, **kwargs) -> list[futures.Future]:
    """``count`` small Solves sent one after the other, each once the previous one waits."""
    calls = []
    for i in range(count):
        before = info(stub).queued_solves
        calls.append(stub.Solve.future(small_request(seed=1 + i % 5), **kwargs))
        wait_until(lambda b=before: info(stub).queued_solves == b + 1, "the call is queued")
    return calls


def test_calls_past_the_slots_wait_their_turn_and_are_all_answered(stub):
    holder = Holder(stub)
    try:
        calls = queue_up(stub, 5, timeout=120)
        now = info(stub)
        assert (now.busy_solves, now.queued_solves) == (1, 5)
        assert (now.queue_limit, now.max_queue_wait_seconds) == (QUEUE_LIMIT, 60.0)
    finally:
        holder.release()
    replies = [call.result(timeout=120) for call in calls]
    assert all(r.status == solve_pb2.SOLVE_STATUS_OPTIMAL for r in replies)
    # Every one of them waited (the process was held); the order they were served in is
    # tests/service/test_slots.py's.
    assert all(r.stats.queue_wait_seconds > 0 for r in replies)
    after = info(stub)
    assert after.queued_solves == 0
    assert after.mean_queue_wait_seconds > 0 and after.recent_queue_wait_seconds > 0


def test_a_free_process_means_no_wait(stub):
    wait_until(lambda: info(stub).busy_solves == 0, "the solver process is free")
    reply = stub.Solve(small_request(), timeout=60)
    assert reply.status == solve_pb2.SOLVE_STATUS_OPTIMAL
    assert reply.stats.queue_wait_seconds == 0


def test_full_queue_is_refused_and_health_and_info_still_answer(stub, channel):
    holder = Holder(stub)
    calls: list[futures.Future] = []
    try:
        calls = queue_up(stub, QUEUE_LIMIT, timeout=120)
        refusals = info(stub).queue_refusals
        with pytest.raises(grpc.RpcError) as refused:
            stub.Solve(small_request(), timeout=60)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "queue is full" in refused.value.details()
        assert f"{QUEUE_LIMIT} calls waiting" in refused.value.details()
        # A stream is refused the same way.
        with pytest.raises(grpc.RpcError) as refused_stream:
            list(stub.SolveStream(small_request(), timeout=60))
        assert refused_stream.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # With every place taken, health and GetServerInfo answer (deadlines: a starved
        # server fails here instead of hanging).
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(5):
            check = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert check.status == health_pb2.HealthCheckResponse.SERVING
            now = info(stub)
            assert (now.busy_solves, now.queued_solves) == (1, QUEUE_LIMIT)
        assert now.queue_refusals == refusals + 2
    finally:
        holder.release()
    assert all(c.result(timeout=120).status == solve_pb2.SOLVE_STATUS_OPTIMAL for c in calls)


def test_a_deadline_shorter_than_the_wait_ends_the_call_without_the_process(stub):
    holder = Holder(stub)
    try:
        with pytest.raises(grpc.RpcError) as ended:
            stub.Solve(small_request(), timeout=1.5)
        # It stops waiting just before its deadline (RESOURCE_EXHAUSTED saying so), or the
        # deadline passes first on a loaded machine.
        code = ended.value.code()
        assert code in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED)
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            assert "deadline" in ended.value.details()
        wait_until(lambda: info(stub).queued_solves == 0, "the expired call left the queue")
        # A deadline that leaves no time to wait at all is refused at once.
        with pytest.raises(grpc.RpcError) as at_once:
            stub.Solve(small_request(), timeout=0.4)
        assert at_once.value.code() in (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        )
        # The holder still runs: the expired calls never took the process.
        assert info(stub).busy_solves == 1
        assert holder.call.is_active()
    finally:
        holder.release()
    wait_until(lambda: info(stub).busy_solves == 0, "the solver process is free")
    assert stub.Solve(small_request(), timeout=60).status == solve_pb2.SOLVE_STATUS_OPTIMAL


def test_cancelling_a_queued_call_frees_its_place_at_once(stub):
    holder = Holder(stub)
    calls: list[futures.Future] = []
    try:
        calls = queue_up(stub, QUEUE_LIMIT, timeout=120)
        victim = calls.pop(3)
        victim.cancel()
        # The place is free again while the process is still held: a new call waits in it
        # instead of being refused.
        wait_until(lambda: info(stub).queued_solves == QUEUE_LIMIT - 1, "the place is freed")
        calls.append(stub.Solve.future(small_request(), timeout=120))
        wait_until(lambda: info(stub).queued_solves == QUEUE_LIMIT, "the new call waits")
        assert info(stub).busy_solves == 1
    finally:
        holder.release()
    assert all(c.result(timeout=120).status == solve_pb2.SOLVE_STATUS_OPTIMAL for c in calls)
    with pytest.raises(grpc.FutureCancelledError):
        victim.result()


def test_queue_settings_are_checked_with_their_flags():
    bad = ServerConfig(queue_limit=-1, max_queue_wait_seconds=float("nan")).violations()
    assert {(v.field, v.flag) for v in bad} == {
        ("queue_limit", "--queue-limit"),
        ("max_queue_wait_seconds", "--max-queue-wait"),
    }
    assert ServerConfig(max_concurrent=3).solve_queue == (6, 30.0)
    assert ServerConfig(queue_limit=0).solve_queue == (0, 0.0)
    assert ServerConfig(max_queue_wait_seconds=0).solve_queue == (0, 0.0)
    assert ServerConfig(queue_limit=5, max_queue_wait_seconds=2.5).solve_queue == (5, 2.5)
