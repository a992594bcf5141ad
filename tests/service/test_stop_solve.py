"""StopSolve (issue 13, item 4): a running SolveStream is stopped as a local Ctrl-C stops a
solve, and its stream ends with the engine's CANCELLED result: the best certified mask found so
far and a rigorous bound. Only the tenant that started the solve may stop it (the same identity
as jobs); for any other caller, and for an id that is unknown or has ended, it is NOT_FOUND.
A real server with its worker processes and real solves."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from prunecert_client import Client, Finished, Incumbent, NotFound, Started
from solver.core.problem import MinError, PruningMode
from solver.exact.certify import certify_mask
from solver.instances.generate import paper_problem
from solver.service.server import ServerConfig, create_server

pytestmark = pytest.mark.timeout(180)

ALICE, BOB = "alice-token-0123456789", "bob-token-0123456789"
# About 20 s to prove: a solve that is still running when it is stopped.
LONG = paper_problem(2, 32, 1, PruningMode.WEIGHTS, MinError())
# A few seconds to prove: stopped right after it starts, it would end CANCELLED.
MEDIUM = paper_problem(2, 48, 1, PruningMode.NEURONS, MinError())


@pytest.fixture(scope="module")
def server():
    running = create_server(ServerConfig(port=0, max_concurrent=1, tokens=frozenset({ALICE, BOB})))
    try:
        yield running
    finally:
        running.stop(0)


def client_of(server, token: str) -> Client:
    return Client(f"127.0.0.1:{server.port}", token=token)


def wait_idle(server) -> None:
    deadline = time.monotonic() + 30
    while server.pool.busy():
        assert time.monotonic() < deadline, "the solver process was never freed"
        time.sleep(0.05)


def started(events: Iterator) -> Started:
    first = next(events)
    assert isinstance(first, Started), first
    assert first.solve_id and first.queue_wait_seconds >= 0
    return first


def test_the_owner_stops_a_solve_and_gets_its_best_certified_mask(server):
    with client_of(server, ALICE) as alice, client_of(server, BOB) as bob:
        events = alice.solve_stream(LONG, time_limit=200, timeout=170)
        solve_id = started(events).solve_id
        # Let the solver find an incumbent, so that there is a mask to keep.
        incumbent = next(e for e in events if isinstance(e, Incumbent))
        assert incumbent.solver_error == incumbent.error and not incumbent.certified
        with pytest.raises(NotFound):  # another tenant cannot stop it, nor see that it exists
            bob.stop_solve(solve_id)
        with pytest.raises(NotFound):
            alice.stop_solve("no-such-solve")
        alice.stop_solve(solve_id)
        rest = list(events)
    assert isinstance(rest[-1], Finished)
    result = rest[-1].result
    assert result.status.name == "CANCELLED", result.detail
    assert result.solution is not None
    certificate = certify_mask(LONG, result.solution.mask)
    assert certificate.error_upper == result.solution.error
    assert 0 <= result.objective_bound <= result.solution.error
    wait_idle(server)
    with client_of(server, ALICE) as alice, pytest.raises(NotFound):
        alice.stop_solve(solve_id)  # it has ended


def test_a_solve_another_tenant_tried_to_stop_runs_to_its_end(server):
    with client_of(server, ALICE) as alice, client_of(server, BOB) as bob:
        events = alice.solve_stream(MEDIUM, timeout=120)
        solve_id = started(events).solve_id
        try:
            bob.stop_solve(solve_id)
        except NotFound:
            pass
        else:
            pytest.fail("bob stopped alice's solve")
        result = list(events)[-1].result
    assert result.status.name == "OPTIMAL"  # not stopped
    wait_idle(server)
