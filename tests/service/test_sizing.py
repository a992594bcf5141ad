"""Sizes and memory checked before anything is built (issue 15, item 5; solver.service.sizing).

* An 8 MB request with d = 10^6 used to be converted on the RPC thread (health stalled for
  5.9 s) and ended UNKNOWN: it is now RESOURCE_EXHAUSTED naming the field, from lengths alone.
* A problem within the size limits whose model would not fit a worker's memory budget
  (--worker-memory) is refused before it is built, naming the domain.
* A request too large to validate on the RPC thread is validated by its worker: same status,
  same field.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from prunecert.v1 import service_pb2, service_pb2_grpc, solve_pb2
from solver.core.errors import ProblemTooLargeError
from solver.core.problem import MinError, PointSet, PruningMode
from solver.core.validate import DEFAULT_LIMITS
from solver.instances.generate import paper_problem
from solver.io import convert
from solver.service import sizing
from tests.service.test_admission import violated_fields
from tests.support.reference import table
from tests.support.server_groups import serving_group

pytestmark = pytest.mark.timeout(180)

MIB = 1024 * 1024


def problem_msg(d=2, n=4, k=5, mode=PruningMode.NEURONS):
    return convert.problem_to_proto(paper_problem(d, n, 1, mode, MinError(2), points_per_axis=k))


# -- the estimate, in process ---------------------------------------------------------------------


def test_model_entries_follow_the_column_model():
    assert sizing.model_entries(problem_msg(2, 4, 5)) == (25, 4)
    # Weights mode: one candidate per hidden mask of each unit (docs/design.md §3).
    assert sizing.model_entries(problem_msg(3, 4, 5, PruningMode.WEIGHTS)) == (125, 4 * 2**3)
    msg = problem_msg(2, 4, 5)
    msg.domain.points.rows, msg.domain.points.cols = 7, 2
    msg.domain.points.values[:] = [0.0] * 14
    assert sizing.model_entries(msg) == (7, 4)
    # A grid too large to count is bounded, not computed (the validation refuses it).
    msg = problem_msg(2, 4, 5)
    msg.domain.box_grid.points_per_axis = 2**32 - 1
    msg.network.hidden_weights.cols = 1_000
    assert sizing.model_entries(msg)[0] == 2**62


def test_the_weights_mode_estimate_follows_the_route_the_solve_takes():
    # n = 64, d = 10: 65,536 patterns, within the pattern model's limit; auto would take the
    # per-weight route (above 512), but an explicit pattern backend, a cross-check or cubes
    # build every pattern: the estimate must count them (the review found 2.4 GB estimated
    # for a 168 GB model).
    msg = problem_msg(10, 64, 2, PruningMode.WEIGHTS)
    rows = 2**10
    assert sizing.model_entries(msg) == (rows, 64 * (10 + 1 + 2))
    assert sizing.model_entries(msg, pattern_route=True) == (rows, 64 * 2**10)
    # Auto leaves the per-weight route when its own limits refuse it and the patterns fit.
    tight = dataclasses.replace(DEFAULT_LIMITS, max_per_weight_relus=64 * rows - 1)
    assert sizing.model_entries(msg, tight) == (rows, 64 * 2**10)
    # Over the pattern model's limit only the per-weight route is left, whatever was asked.
    wide = problem_msg(11, 64, 2, PruningMode.WEIGHTS)
    assert sizing.model_entries(wide, pattern_route=True) == (2**11, 64 * (11 + 1 + 2))


def test_precheck_names_every_field_over_a_limit_from_lengths():
    msg = problem_msg()
    msg.network.hidden_weights.cols = 10**6
    msg.target.neuron.weights[:] = [0.0] * (DEFAULT_LIMITS.max_input_dim + 1)
    with pytest.raises(ProblemTooLargeError) as info:
        sizing.precheck(msg, DEFAULT_LIMITS)
    fields = [v.field for v in info.value.violations]
    assert fields == ["network.hidden_weights", "target.neuron.weights"]
    sizing.precheck(problem_msg(), DEFAULT_LIMITS)  # within every limit


def test_several_outputs_are_sized_by_their_rows_and_patterns():
    from solver.core.problem import Network, PruningMode
    from solver.instances.generate import paper_problem
    from solver.io import convert

    base = paper_problem(2, 8, 1, PruningMode.WEIGHTS, points_per_axis=5)
    rng = np.random.default_rng(0)
    network = Network(
        hidden_weights=base.network.hidden_weights,
        output_weights=rng.uniform(-1, 1, (3, 8)),
        output_bias=np.zeros(3),
    )
    target = Network(
        hidden_weights=base.network.hidden_weights[:2],
        output_weights=rng.uniform(-1, 1, (3, 2)),
        output_bias=np.zeros(3),
    )
    problem = dataclasses.replace(base, network=network, target=target)
    msg = convert.problem_to_proto(problem)
    sizing.precheck(msg, DEFAULT_LIMITS)  # 24 output weights for 8 units: within the limits
    assert sizing.model_entries(msg) == (25 * 3, 8 * 2**2 * (2**3 - 1))


def test_check_memory_refuses_past_the_budget_and_names_the_domain():
    msg = problem_msg(2, 64, 200)  # 40,000 points x 64 candidates
    need = sizing.estimated_bytes(msg)
    assert need == sizing.BASE_BYTES + 40_000 * 64 * sizing.BYTES_PER_ENTRY
    sizing.check_memory(msg, need)
    with pytest.raises(ProblemTooLargeError) as info:
        sizing.check_memory(msg, need - 1)
    assert [v.field for v in info.value.violations] == ["domain"]
    assert "40000 points x 64 candidates" in str(info.value)


# -- against a real server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sizing")
    with serving_group(
        tmp, "--max-concurrent", "1", "--worker-memory", str(512 * MIB), tokens=False
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def channel(served):
    with grpc.insecure_channel(served.remote) as ch:
        yield ch


def refused(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def test_huge_dimension_is_refused_from_its_lengths(channel):
    stub = service_pb2_grpc.PruningSolverStub(channel)
    msg = problem_msg()
    net = msg.network.hidden_weights
    net.rows, net.cols = 1, 10**6
    net.values[:] = np.zeros(10**6).tolist()  # 8 MB
    msg.network.output_weights[:] = [1.0]
    msg.target.neuron.weights[:] = np.zeros(10**6).tolist()
    msg.domain.box_grid.points_per_axis = 2**32 - 1
    err = refused(lambda: stub.Solve(service_pb2.SolveRequest(problem=msg), timeout=60))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert set(violated_fields(err)) == {"network.hidden_weights", "target.neuron.weights"}
    check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert check.status == health_pb2.HealthCheckResponse.SERVING


def test_model_past_the_worker_memory_budget_is_refused_before_it_is_built(channel):
    stub = service_pb2_grpc.PruningSolverStub(channel)
    big = problem_msg(2, 64, 200)  # within the size limits; about 569 MiB of model
    err = refused(lambda: stub.Solve(service_pb2.SolveRequest(problem=big), timeout=60))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert violated_fields(err) == ["domain"]
    assert "worker memory budget of 512.0 MiB" in err.details()
    mask = solve_pb2.Mask()
    mask.neurons[:] = [True] * 64
    err = refused(
        lambda: stub.Certify(service_pb2.CertifyRequest(problem=big, mask=mask), timeout=60)
    )
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Within the budget, the same server solves (compared with the brute force).
    problem = paper_problem(2, 4, 1, PruningMode.NEURONS, MinError(2), points_per_axis=5)
    reply = stub.Solve(
        service_pb2.SolveRequest(problem=convert.problem_to_proto(problem)), timeout=60
    )
    assert reply.status == solve_pb2.SOLVE_STATUS_OPTIMAL
    best = table(problem).min_error(2)
    assert abs(Fraction(reply.solution.error) - best) <= Fraction(1, 10**9)


def test_a_request_too_large_for_the_rpc_thread_is_validated_by_its_worker(channel):
    stub = service_pb2_grpc.PruningSolverStub(channel)
    rng = np.random.default_rng(0)
    points = rng.uniform(-1, 1, (8_000, 16))  # 128,000 numbers: over FULL_CHECK_VALUES
    assert points.size > sizing.FULL_CHECK_VALUES
    points[17, 3] = np.nan
    problem = paper_problem(16, 2, 1, PruningMode.NEURONS, MinError(1), points_per_axis=2)
    msg = convert.problem_to_proto(problem)
    msg.domain.Clear()
    msg.domain.points.rows, msg.domain.points.cols = points.shape
    msg.domain.points.values[:] = points.ravel().tolist()
    err = refused(lambda: stub.Solve(service_pb2.SolveRequest(problem=msg), timeout=60))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(err) == ["domain.points"]
    # The same request without the NaN is solved (and agrees with a local solve).
    points[17, 3] = 0.5
    msg.domain.points.values[:] = points.ravel().tolist()
    reply = stub.Solve(service_pb2.SolveRequest(problem=msg), timeout=120)
    assert reply.status == solve_pb2.SOLVE_STATUS_OPTIMAL
    local = table(convert.parse_problem(msg)).min_error(1)
    assert abs(Fraction(reply.solution.error) - local) <= Fraction(1, 10**9)
    assert isinstance(convert.parse_problem(msg).domain, PointSet)


def test_jobs_past_the_worker_memory_budget_are_refused_at_submission(channel):
    from prunecert.v1 import jobs_pb2

    stub = service_pb2_grpc.PruningSolverStub(channel)
    request = jobs_pb2.SubmitJobRequest()
    request.problems.problems.extend([problem_msg(), problem_msg(2, 64, 200)])
    err = refused(lambda: stub.SubmitJob(request, timeout=30))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert violated_fields(err) == ["problems.problems[1].domain"]
    # A family is judged by its largest items.
    request = jobs_pb2.SubmitJobRequest()
    family = request.family
    family.generator = "paper"
    family.d.append(2)
    family.n.extend([4, 64])
    family.seeds.append(1)
    family.pruning.append(PruningMode.NEURONS.value)
    family.points_per_axis = 200
    err = refused(lambda: stub.SubmitJob(request, timeout=30))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert violated_fields(err) == ["family.domain"]
    family.points_per_axis = 5  # the same family on a small grid fits
    job = stub.SubmitJob(request, timeout=30)
    assert job.total_items == 2
    stub.CancelJob(jobs_pb2.CancelJobRequest(id=job.id), timeout=30)
