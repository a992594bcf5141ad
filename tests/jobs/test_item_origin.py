"""What a job item is without its problem (issue 13 item 8): ItemOrigin from the spec (family
coordinates, or the explicit problem's shape) and the wire times (Timestamp and Duration with
the deprecated doubles beside them), including results stored before either existed."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from prunecert.v1 import jobs_pb2, problem_pb2
from solver.core.problem import MinError, Network, Neuron, PointSet, Problem, PruningMode
from solver.core.validate import DEFAULT_LIMITS
from solver.instances.generate import paper_problem
from solver.io import convert
from solver.jobs.manager import JobManager
from solver.jobs.spec import JobSpec
from solver.jobs.store import JobStore
from solver.jobs.times import fill_job_times, item_seconds, set_item_seconds, timestamp

N, W = PruningMode.NEURONS, PruningMode.WEIGHTS


def paper_family() -> jobs_pb2.SubmitJobRequest:
    request = jobs_pb2.SubmitJobRequest()
    family = request.family
    family.generator = "paper"
    family.d[:] = [1, 2]
    family.n[:] = [3, 5]
    family.seeds[:] = [0, 4]
    family.pruning[:] = [problem_pb2.PRUNING_MODE_NEURONS, problem_pb2.PRUNING_MODE_WEIGHTS]
    family.points_per_axis = 5
    family.objective.min_error.SetInParent()
    return request


def test_a_paper_family_item_has_its_coordinates_and_its_problem_shape():
    request = paper_family()
    spec = JobSpec(request, DEFAULT_LIMITS)
    assert spec.size() == 16
    family = convert.parse_family(request.family)
    for index in range(spec.size()):
        origin = spec.origin(index)
        d, n, seed, mode = family.coordinates(index)
        problem = family.problem(index)
        assert (origin.d, origin.n, origin.seed, origin.pruning) == (d, n, seed, int(mode))
        assert (origin.d, origin.n) == (problem.network.d, problem.network.n)
        assert origin.full_kept == problem.max_kept_possible()
        assert origin.HasField("seed") and not origin.HasField("instance")
    assert spec.origin(0).seed == 0  # a seed of 0 is present, not "unset"


def test_a_subset_sum_item_has_its_seed_and_instance():
    request = jobs_pb2.SubmitJobRequest()
    request.family.generator = "subset_sum"
    request.family.n[:] = [4, 6]
    request.family.seeds[:] = [2]
    request.family.count = 3
    request.family.low, request.family.high = -1.0, 1.0
    spec = JobSpec(request, DEFAULT_LIMITS)
    got = [
        (o.n, o.seed, o.instance, o.d, o.pruning, o.full_kept) for o in map(spec.origin, range(6))
    ]
    neurons = problem_pb2.PRUNING_MODE_NEURONS
    assert got == [(n, 2, j, 1, neurons, n) for n in (4, 6) for j in range(3)]
    assert spec.origin(4).n == spec.problem(4).network.hidden_weights.rows


def test_explicit_items_have_their_problem_shape_and_no_family_coordinates():
    problems = [
        paper_problem(2, 4, 1, W, MinError(), points_per_axis=5),
        Problem(
            network=Network(hidden_weights=np.ones((2, 3)), output_weights=np.ones(2)),
            target=Neuron(weights=np.ones(3)),
            domain=PointSet(points=np.eye(3)),
            pruning=N,
        ),
    ]
    request = jobs_pb2.SubmitJobRequest()
    request.problems.problems.extend(convert.problem_to_proto(p) for p in problems)
    spec = JobSpec(request, DEFAULT_LIMITS)
    for index, problem in enumerate(problems):
        origin = spec.origin(index)
        assert (origin.d, origin.n) == (problem.network.d, problem.network.n)
        assert origin.pruning == int(problem.pruning)
        assert origin.full_kept == problem.max_kept_possible()
        assert not origin.HasField("seed") and not origin.HasField("instance")


def test_job_times_are_timestamps_beside_the_epoch_doubles():
    job = fill_job_times(jobs_pb2.Job(created_time=1767225600.123456, started_time=0.0))
    assert job.created.ToDatetime(tzinfo=UTC) == datetime(2026, 1, 1, 0, 0, 0, 123456, UTC)
    assert not job.HasField("started") and not job.HasField("finished")  # 0: not yet
    assert timestamp(0.0) is None
    item = jobs_pb2.JobItemResult()
    set_item_seconds(item, 1.25)
    assert (item.seconds, item.duration.seconds, item.duration.nanos) == (1.25, 1, 250_000_000)
    assert item_seconds(item) == 1.25


@pytest.fixture
def stored_before_origins(tmp_path):
    """A finished job whose result was stored by an earlier version: ``seconds`` only, no
    ``duration`` and no ``origin``. Written with the store alone; the manager opens it after
    (no unfinished job: no Dask)."""
    request = paper_family()
    store = JobStore(tmp_path / "jobs.sqlite3")
    row, _ = store.create("me", "", "solve", request.SerializeToString(), 16)
    old = jobs_pb2.JobItemResult(index=5, error="ValueError: an old failure", seconds=0.5)
    store.add_results(row.id, [(5, False, old.SerializeToString())])
    store.set_state(row.id, jobs_pb2.JOB_STATE_SUCCEEDED)
    store.close()
    manager = JobManager(str(tmp_path), DEFAULT_LIMITS, max_time_limit=10)
    try:
        yield manager, row.id, convert.parse_family(request.family)
    finally:
        manager.close()


def test_results_stored_by_an_earlier_version_get_origin_and_duration(stored_before_origins):
    manager, job_id, family = stored_before_origins
    [item] = manager.results("me", job_id, 0)
    d, n, seed, mode = family.coordinates(5)
    assert (item.origin.d, item.origin.n, item.origin.seed, item.origin.pruning) == (
        d,
        n,
        seed,
        int(mode),
    )
    assert item.duration.ToNanoseconds() == 500_000_000 and item.seconds == 0.5
    [event] = [e for e in manager.watch("me", job_id, alive=lambda: True) if e.HasField("item")]
    assert event.item.origin == item.origin and event.item.duration == item.duration
    job = manager.get("me", job_id)
    assert job.HasField("created") and job.HasField("finished") and job.created_time > 0
