"""Distributed jobs (issue 16; solver.jobs.distributed, docs/design.md §16): one problem with
parameters.distributed submitted as a job, its cubes journalled in the job's SQLite store.

Real servers (in process, their job cluster a real Dask LocalCluster with one worker per core:
2 on the project's machines), a real SQLite file, tiny instances of tests/engine/test_cubes.py.
The answers are compared with the monolithic solve and the brute force; the crash test stops
a server mid-job (its driver process killed, its cluster closed: what a crash leaves), restarts
one on the same data directory and checks from the journal that the cubes closed before the
crash were not solved again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from fractions import Fraction

import grpc
import pytest

from prunecert.v1 import jobs_pb2, problem_pb2
from prunecert_client import Client, InvalidRequest
from solver.core.parameters import SolveParameters
from solver.core.problem import MinError, PruningMode
from solver.core.result import SolveStatus
from solver.engine import solve
from solver.instances.generate import paper_problem
from solver.io import convert
from solver.jobs.distributed import parse_entry
from solver.jobs.store import JobStore
from solver.service.server import ServerConfig, create_server
from tests.support.reference import all_masks, exact_error, kept
from tests.support.servers import REPO

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.filterwarnings("ignore:Port 8787 is already in use:UserWarning"),
]

N, W = PruningMode.NEURONS, PruningMode.WEIGHTS
FINAL = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")
TOL = 1e-6


def _problem(mode: PruningMode, n: int, seed: int, max_kept: int | None = None):
    problem = paper_problem(2, n, seed, mode, points_per_axis=9)
    return dataclasses.replace(problem, objective=MinError(max_kept=max_kept))


def _request(problem, cubes: int, **params) -> jobs_pb2.SubmitJobRequest:
    request = jobs_pb2.SubmitJobRequest(
        problems=jobs_pb2.ProblemList(problems=[convert.problem_to_proto(problem)])
    )
    request.parameters.distributed.cubes = cubes
    for key, value in params.items():
        setattr(request.parameters, key, value)
    return request


def _server(data_dir):
    return create_server(ServerConfig(port=0, data_dir=str(data_dir), max_concurrent=1))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = _server(tmp_path_factory.mktemp("distributed-jobs"))
    try:
        yield srv
    finally:
        srv.stop(0)


@pytest.fixture(scope="module")
def client(server):
    with Client(f"127.0.0.1:{server.port}") as c:
        yield c


def wait_until(condition, timeout: float, what: str) -> None:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"{what} not within {timeout} s"
        time.sleep(0.02)


def wait_final(client: Client, job_id: str, timeout: float = 120.0):
    box = []

    def final() -> bool:
        box[:] = [client.get_job(job_id)]
        return box[0].state in FINAL

    wait_until(final, timeout, f"job {job_id} final")
    return box[0]


def _brute_force(problem, max_kept=None) -> Fraction:
    return min(
        exact_error(problem, m)
        for m in all_masks(problem)
        if max_kept is None or kept(m) <= max_kept
    )


def _journal(store: JobStore, job_id: str) -> list[tuple[str, str, bool, object]]:
    """(phase, run, is a cube, entry) of every journal row."""
    return [
        (phase, run, cube, parse_entry(entry)) for phase, run, _, cube, entry in store.cubes(job_id)
    ]


@pytest.mark.parametrize(
    ("mode", "n", "seed", "max_kept"), [(N, 9, 1, None), (N, 9, 2, 3), (W, 3, 1, None)]
)
def test_a_distributed_job_equals_the_monolithic_solve_and_the_brute_force(
    server, client, mode, n, seed, max_kept
):
    problem = _problem(mode, n, seed, max_kept)
    job = client.submit_job(_request(problem, 4, sparsest=False, heuristic_start=False))
    assert job.total_items == 1
    done = wait_final(client, job.id)
    assert (done.state, done.succeeded_items, done.failed_items) == ("JOB_STATE_SUCCEEDED", 1, 0)
    (item,) = client.job_results_messages(job.id, timeout=30)
    assert not item.error, item.error
    result = convert.parse_result(item.solve_result)
    mono = solve(problem, SolveParameters(sparsest=False, heuristic_start=False))
    best = _brute_force(problem, max_kept)
    assert result.status == mono.status == SolveStatus.OPTIMAL, result.detail
    assert Fraction(result.objective_bound) <= best
    assert Fraction(result.solution.error) - best <= Fraction(TOL)
    assert abs(result.solution.error - mono.solution.error) <= TOL
    assert exact_error(problem, result.solution.mask) <= Fraction(result.solution.error)
    if max_kept is not None:
        assert kept(result.solution.mask) <= max_kept
    # The result lists the cubes; every finished one is in the journal, and GetJob counts them.
    cubes = item.solve_result.distributed.cubes
    journal = _journal(server.jobs.store, job.id)
    journalled = [entry for _, _, cube, entry in journal if cube]
    solved = [c for c in cubes if c.state not in ("empty", "cancelled")]
    assert len(journalled) == len(solved) and solved
    assert server.jobs.get("", job.id).cubes.finished == len(journalled)
    assert all(e.answer.bound <= best for e in journalled if e.answer.state != "refuted")


REFUSED = {
    "two problems": lambda: jobs_pb2.SubmitJobRequest(
        problems=jobs_pb2.ProblemList(
            problems=[convert.problem_to_proto(_problem(N, 6, s)) for s in (1, 2)]
        )
    ),
    "a family": lambda: jobs_pb2.SubmitJobRequest(
        family=jobs_pb2.FamilySpec(
            generator="paper", d=[2], n=[4], seeds=[1], pruning=[1], points_per_axis=5
        )
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_any_other_distributed_shape_is_refused_naming_the_field(client, case):
    request = REFUSED[case]()
    request.parameters.distributed.cubes = 4
    with pytest.raises(InvalidRequest) as info:
        client.submit_job(request)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "parameters.distributed" in [f for f, _ in info.value.violations]


def test_a_distributed_job_without_a_cube_backend_is_refused(client):
    request = _request(_problem(N, 6, 1), 4, backend="mitm")
    with pytest.raises(InvalidRequest) as info:
        client.submit_job(request)
    assert "parameters.backend" in [f for f, _ in info.value.violations]


def test_cancel_stops_every_cube(server, client):
    # Neurons n = 64: its cubes run far longer than this test (tests/engine/test_cubes.py).
    problem = paper_problem(2, 64, 1, N)
    job = client.submit_job(_request(problem, 4, time_limit_seconds=120))
    dask = None

    def cubes_running() -> bool:
        nonlocal dask
        dask = server.jobs._client
        return dask is not None and sum(len(t) for t in dask.processing().values()) >= 2

    wait_until(cubes_running, 60, "two cubes running")
    client.cancel_job(job.id)
    start = time.monotonic()
    wait_until(
        lambda: not any(dask.processing().values()), 10, "every cube stopped after the cancel"
    )
    print(f"every cube stopped {time.monotonic() - start:.2f} s after CancelJob")
    done = wait_final(client, job.id, 10)
    assert done.state == "JOB_STATE_CANCELLED"
    assert done.finished_items == 0  # a cancelled job takes no result
    wait_until(lambda: job.id not in server.jobs._drivers, 10, "the driver to exit")


def test_a_crashed_server_resumes_the_job_without_solving_closed_cubes_again(tmp_path):
    # Neurons n = 40, 64 root cubes of well under a second each: a job of a few seconds.
    problem = _problem(N, 40, 1)
    params = dict(sparsest=False, heuristic_start=False)
    data_dir = tmp_path / "data"
    first = _server(data_dir)
    try:
        with Client(f"127.0.0.1:{first.port}") as c:
            job = c.submit_job(_request(problem, 64, **params))
        store = first.jobs.store
        wait_until(lambda: store.cube_progress(job.id)[0] >= 3, 90, "3 cubes journalled")
        # The crash: the driver killed at once (as a SIGKILL of the server's process group
        # kills it), then the cluster and the server go.
        first.jobs.close()
    finally:
        first.stop(0)
    before = JobStore(data_dir / "jobs.sqlite3", attach=True)
    assert before.done_indices(job.id) == set(), "the job ended before the crash"
    raw_before = before.cubes(job.id)
    rows_before = _journal(before, job.id)
    before.close()
    proven = {
        (phase, tuple(sorted(e.decisions.items())))
        for phase, _, cube, e in rows_before
        if cube and e.answer.state != "open"
    }
    assert proven, rows_before

    second = _server(data_dir)
    try:
        with Client(f"127.0.0.1:{second.port}") as c:
            done = wait_final(c, job.id)
            assert done.state == "JOB_STATE_SUCCEEDED", done
            (item,) = c.job_results_messages(job.id, timeout=30)
        raw_after = second.jobs.store.cubes(job.id)
        rows_after = _journal(second.jobs.store, job.id)
    finally:
        second.stop(0)
    assert not item.error, item.error
    result = convert.parse_result(item.solve_result)
    mono = solve(problem, SolveParameters(**params))
    assert result.status == mono.status == SolveStatus.OPTIMAL, result.detail
    assert abs(result.solution.error - mono.solution.error) <= TOL
    assert Fraction(result.objective_bound) <= Fraction(mono.solution.error)
    assert exact_error(problem, result.solution.mask) <= Fraction(result.solution.error)
    # The journal: the rows from before the crash are untouched, a second run wrote the rest,
    # and none of its cubes is one that was already proven.
    assert raw_after[: len(raw_before)] == raw_before
    runs = {run for _, run, _, _ in rows_before}
    later = [
        (phase, tuple(sorted(e.decisions.items())))
        for phase, run, cube, e in rows_after
        if cube and run not in runs
    ]
    assert later, "the restarted server solved nothing: the crash came too late"
    assert not proven & set(later), proven & set(later)
    print(f"journal: {len(proven)} cubes proven before the crash, {len(later)} solved after it")
    # Every leaf of the final tree is proven: restored ones and new ones together.
    states = [c.state for c in item.solve_result.distributed.cubes]
    assert len(states) >= 64 and "cancelled" not in states


def test_the_readme_block_runs_as_written(server, tmp_path):
    """README "One hard instance on many workers": the distributed job's block, its `batch`
    commands sent to this module's server (a `.venv/bin/prunecert` of the test's own adds
    `--remote`: the README uses the default address, which other things may hold)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("### One hard instance on many workers")
    section = readme[start : readme.index("\n### ", start + 1)]
    blocks = re.findall(r"```\n(.*?)```", section, flags=re.S)
    block = next(b for b in blocks if "--distributed" in b and "batch submit" in b)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    prunecert = tmp_path / ".venv" / "bin" / "prunecert"
    remote = f"127.0.0.1:{server.port}"
    prunecert.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = batch ]; then exec {sys.executable} -m solver.cli "$@" --remote {remote}; '
        f'fi\nexec {sys.executable} -m solver.cli "$@"\n'
    )
    prunecert.chmod(0o755)
    run = subprocess.run(
        ["bash", "-e", "-c", block],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr
    (line,) = [line for line in run.stdout.splitlines() if line.strip()]
    result = json.loads(line)["result"]
    assert result["status"] == "SOLVE_STATUS_OPTIMAL", result
    assert result["distributed"]["cubes"]  # the cubes, with their bounds
    problem = convert.parse_problem(
        convert.parse_json((tmp_path / "one.json").read_text(), problem_pb2.Problem)
    )
    # The monolithic solve's optimum (the brute force is too slow at n = 12; it is compared
    # with both at n = 9 above).
    mono = solve(problem)
    assert mono.status == SolveStatus.OPTIMAL
    assert abs(result["solution"]["error"] - mono.solution.error) <= TOL
