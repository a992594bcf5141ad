"""A distributed solve over gRPC (SolveParameters.distributed, docs/design.md §16): a real server
whose job cluster is a real Dask LocalCluster of two workers, with the cube driver in a solver
process. Its optimum is the monolithic solve's and the brute force's; SolveStream carries its
progress and its cubes; a cancel stops every cube within 2 s (the issue's bound); a server
without jobs and bad cube settings are refused naming the field."""

from __future__ import annotations

import dataclasses
import time
from fractions import Fraction

import pytest

from prunecert_client import (
    BoundUpdate,
    Client,
    ClientError,
    Finished,
    Incumbent,
    InvalidRequest,
    LogLine,
    Started,
)
from solver.core.parameters import CUBE_RULES, DistributedParameters, SolveParameters
from solver.core.problem import MinError, PruningMode
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.engine.cube_split import SPLIT_RULES
from solver.exact.certify import certify_mask
from solver.instances.generate import paper_problem
from solver.service.server import ServerConfig, create_server
from tests.support.cluster import dask_cluster, jobs_server
from tests.support.reference import all_masks, exact_error

pytestmark = pytest.mark.timeout(240)

TOL = 1e-6
SMALL = dataclasses.replace(
    paper_problem(2, 8, 1, PruningMode.NEURONS, points_per_axis=9), objective=MinError()
)
# Cubes of about 10 s each on 2 cores (n = 64, 4 cubes): still running when cancelled.
LONG = paper_problem(2, 64, 1, PruningMode.NEURONS, MinError())
CUBES = SolveParameters(
    sparsest=False, heuristic_start=False, distributed=DistributedParameters(4, "magnitude")
)


@pytest.fixture(scope="module")
def dask():
    """The job cluster: a LocalCluster of two workers, and a client of the test's to watch it."""
    with dask_cluster(2) as client:
        yield client


@pytest.fixture(scope="module")
def server(dask, tmp_path_factory):
    with jobs_server(dask, str(tmp_path_factory.mktemp("jobs"))) as running:
        yield running


@pytest.fixture(scope="module")
def jobless():
    running = create_server(ServerConfig(port=0, max_concurrent=1))
    yield running
    running.stop(0)


def client_of(server) -> Client:
    return Client(f"127.0.0.1:{server.port}")


def test_a_remote_distributed_solve_is_the_monolithic_optimum_with_its_cubes(server):
    with client_of(server) as client:
        events = list(client.solve_stream(SMALL, CUBES, timeout=120))
    assert isinstance(events[0], Started)
    finished = events[-1]
    assert isinstance(finished, Finished)
    result = finished.result
    assert result.status == SolveStatus.OPTIMAL, result.detail
    brute = min(exact_error(SMALL, mask) for mask in all_masks(SMALL))
    local = solve(SMALL, dataclasses.replace(CUBES, distributed=None))
    assert abs(result.solution.error - local.solution.error) <= TOL
    assert Fraction(result.solution.error) - brute <= Fraction(TOL)
    assert Fraction(result.objective_bound) <= brute
    assert certify_mask(SMALL, result.solution.mask).error_upper == result.solution.error
    # The cubes came back over the wire: four root cubes on the rule's first two units.
    cubes = finished.distributed
    assert cubes is not None and cubes.rule == "magnitude" and len(cubes.split_units) == 2
    roots = [c for c in cubes.cubes if set(c.decisions) == set(cubes.split_units)]
    assert len(roots) >= 4 and cubes.workers == 2
    # Progress: the incumbent, the global bound and the open cubes' count as they change.
    assert any(isinstance(e, Incumbent) for e in events)
    assert any(isinstance(e, BoundUpdate) for e in events)
    assert any(isinstance(e, LogLine) and "open" in e.text for e in events)


def test_a_cancel_stops_every_cube_within_two_seconds(server, dask):
    params = dataclasses.replace(CUBES, time_limit_seconds=120)
    with client_of(server) as client:
        events = client.solve_stream(LONG, params, timeout=150)
        assert isinstance(next(events), Started)
        deadline = time.monotonic() + 90
        while not any(dask.processing().values()):  # wait for cubes to be running
            assert time.monotonic() < deadline, "no cube ever ran"
            time.sleep(0.05)
        time.sleep(1.0)  # into the cubes' solves
        assert any(dask.processing().values())
        events.close()  # leaves the stream: the call is cancelled
        cancelled = time.monotonic()
    running = dask.processing()
    while any(running.values()) and time.monotonic() - cancelled < 30:
        time.sleep(0.05)
        running = dask.processing()
    stopped_after = time.monotonic() - cancelled
    assert not any(running.values()), running
    # The bound (the stop reaches a cube in about 0.4 s: the driver's and the cube's
    # 0.2 s polls), measured from the cancel to an idle cluster.
    assert stopped_after < 2.0, f"cubes still ran {stopped_after:.2f} s after the cancel"


def test_stop_solve_ends_the_stream_with_the_best_certified_mask_and_every_cube(server, dask):
    params = dataclasses.replace(CUBES, time_limit_seconds=120)
    with client_of(server) as client:
        events = client.solve_stream(LONG, params, timeout=150)
        started = next(events)
        assert isinstance(started, Started)
        deadline = time.monotonic() + 90
        while not any(dask.processing().values()):
            assert time.monotonic() < deadline, "no cube ever ran"
            time.sleep(0.05)
        client.stop_solve(started.solve_id)
        finished = list(events)[-1]
    assert isinstance(finished, Finished)
    result = finished.result
    assert result.status == SolveStatus.CANCELLED, result.detail
    # The starting mask at least, certified; the bound the least of the leaves' (0 for a cube
    # stopped before it proved anything), never above the mask's exact error.
    assert certify_mask(LONG, result.solution.mask).error_upper == result.solution.error
    assert 0 <= result.objective_bound <= result.solution.error
    assert finished.distributed is not None and finished.distributed.cubes
    assert not any(dask.processing().values())  # the driver returned after every cube ended


def test_a_server_without_jobs_refuses_a_distributed_solve_naming_the_field(jobless):
    with client_of(jobless) as client, pytest.raises(ClientError) as info:
        client.solve(SMALL, CUBES, timeout=30)
    assert info.value.code.name == "FAILED_PRECONDITION"
    assert [field for field, _ in info.value.violations] == ["parameters.distributed"]
    assert "--data-dir" in str(info.value)


@pytest.mark.parametrize(
    ("distributed", "field"),
    [
        (DistributedParameters(cubes=1), "parameters.distributed.cubes"),
        (DistributedParameters(cubes=2048), "parameters.distributed.cubes"),
        (DistributedParameters(cube_rule="nearest"), "parameters.distributed.cube_rule"),
        (DistributedParameters(cube_threads=65), "parameters.distributed.cube_threads"),
    ],
)
def test_bad_cube_settings_are_invalid_arguments_naming_the_field(jobless, distributed, field):
    params = dataclasses.replace(CUBES, distributed=distributed)
    with client_of(jobless) as client:
        with pytest.raises(InvalidRequest) as unary:
            client.solve(SMALL, params, timeout=30)
        with pytest.raises(InvalidRequest) as stream:
            list(client.solve_stream(SMALL, params, timeout=30))
    for error in (unary.value, stream.value):
        assert [f for f, _ in error.violations] == [field]


def test_the_contract_names_the_rules_the_engine_implements():
    # The contract checks a rule before anything is solved (solver.core.parameters); the engine
    # implements them (solver.engine.cube_split).
    assert CUBE_RULES == tuple(SPLIT_RULES)
