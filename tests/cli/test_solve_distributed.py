"""`prunecert solve --distributed` (solver/cli/cubes.py, docs/design.md §16) as a user types it:
locally on a Dask LocalCluster of two workers, and with --remote on a real server whose job
cluster is one; `solve-distributed` is the same command. The result is the monolithic optimum,
printed with its cubes."""

from __future__ import annotations

import dataclasses
import json

import pytest

from solver.cli.common import EXIT_OPTIMAL, EXIT_USAGE
from solver.core.parameters import SolveParameters
from solver.core.problem import MinError, PruningMode
from solver.engine import solve
from solver.instances.generate import paper_problem
from solver.io import convert
from solver.service.server import ServerConfig, create_server
from tests.support.cluster import dask_cluster, jobs_server
from tests.support.readme import run_block, shell_block
from tests.support.servers import cli

pytestmark = pytest.mark.timeout(300)

TOL = 1e-6
PROBLEM = dataclasses.replace(
    paper_problem(2, 7, 1, PruningMode.NEURONS, points_per_axis=9), objective=MinError()
)


@pytest.fixture(scope="module")
def problem_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cubes") / "p.json"
    path.write_text(convert.to_json(convert.problem_to_proto(PROBLEM)))
    return str(path)


@pytest.fixture(scope="module")
def optimum() -> float:
    result = solve(PROBLEM, SolveParameters())
    assert result.status.name == "OPTIMAL"
    return result.solution.error


@pytest.fixture(scope="module")
def dask():
    """A LocalCluster of two workers: for --dask-scheduler, and the server's job cluster."""
    with dask_cluster(2) as client:
        yield client


@pytest.fixture(scope="module")
def server(dask, tmp_path_factory):
    with jobs_server(dask, str(tmp_path_factory.mktemp("jobs"))) as running:
        yield running


def _text_result(out: str) -> tuple[str, float]:
    fields = dict(line.split(None, 1) for line in out.splitlines() if line and line[0] != " ")
    return fields["status"], float(fields["error"].split()[0])


def test_solve_distributed_locally_prints_the_optimum_and_its_cubes(problem_file, optimum):
    proc = cli("solve", problem_file, "--distributed", "--cubes", "4", "--workers", "2")
    assert proc.returncode == EXIT_OPTIMAL, proc.stderr
    status, error = _text_result(proc.stdout.split("\ncubes: ")[0])
    assert status == "OPTIMAL" and abs(error - optimum) <= TOL
    assert "\ncubes: " in proc.stdout and "rule magnitude" in proc.stdout


def test_cubes_with_the_backends_own_threads_give_the_optimum(problem_file, optimum, server):
    # --cube-threads 0: each cube runs the backend's own portfolio; locally on one worker (the
    # machine's two cores), and on the server's job cluster.
    local = cli(
        "solve", problem_file, "--distributed", "--cube-threads", "0", "--workers", "1", "--json"
    )
    remote = f"127.0.0.1:{server.port}"
    served = cli(
        "solve", problem_file, "--distributed", "--cube-threads", "0", "--remote", remote, "--json"
    )
    for proc, workers in ((local, 1), (served, 2)):
        assert proc.returncode == EXIT_OPTIMAL, proc.stderr
        reply = json.loads(proc.stdout)
        assert abs(reply["solution"]["error"] - optimum) <= TOL
        assert reply["distributed"]["workers"] == workers


def test_solve_distributed_is_solve_with_distributed(problem_file, optimum, dask):
    # On an existing cluster (the module's) this time, and as JSON.
    proc = cli(
        "solve-distributed", problem_file, "--cube-rule", "kink",
        "--dask-scheduler", dask.scheduler.address, "--json",
    )  # fmt: skip
    assert proc.returncode == EXIT_OPTIMAL, proc.stderr
    reply = json.loads(proc.stdout)
    assert reply["status"] == "SOLVE_STATUS_OPTIMAL"
    assert abs(reply["solution"]["error"] - optimum) <= TOL
    assert reply["distributed"]["cubeRule"] == "kink" and len(reply["distributed"]["cubes"]) >= 8


def test_solve_distributed_remotely_prints_the_servers_cubes(problem_file, optimum, server):
    remote = f"127.0.0.1:{server.port}"
    proc = cli("solve", problem_file, "--distributed", "--cubes", "4", "--remote", remote)
    assert proc.returncode == EXIT_OPTIMAL, proc.stderr
    status, error = _text_result(proc.stdout.split("\ncubes: ")[0])
    assert status == "OPTIMAL" and abs(error - optimum) <= TOL
    assert "\ncubes: " in proc.stdout and "2 workers" in proc.stdout
    proc = cli(
        "solve", problem_file, "--distributed", "--cube-rule", "lp", "--remote", remote, "--json"
    )
    assert proc.returncode == EXIT_OPTIMAL, proc.stderr
    assert json.loads(proc.stdout)["distributed"]["cubeRule"] == "lp"


def test_a_server_without_jobs_is_named_by_the_flag(problem_file):
    running = create_server(ServerConfig(port=0, max_concurrent=1))
    try:
        proc = cli("solve", problem_file, "--distributed", "--remote", f"127.0.0.1:{running.port}")
    finally:
        running.stop(0)
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.startswith("prunecert: error: --distributed: ")
    assert "(parameters.distributed)" in proc.stderr and "--data-dir" in proc.stderr


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["--cubes", "4"], "prunecert: error: --cubes: needs --distributed"),
        (
            ["--distributed", "--cubes", "1"],
            "prunecert: error: --cubes: must be an integer between 2 and 1024, got 1 "
            "(parameters.distributed.cubes)",
        ),
        (["--distributed", "--workers", "0"], "prunecert: error: --workers: must be at least 1"),
        (["--cube-threads", "0"], "prunecert: error: --cube-threads: needs --distributed"),
        (
            ["--distributed", "--cube-threads", "65"],
            "prunecert: error: --cube-threads: must be an integer between 0 (the backend's own "
            "choice) and 64, got 65 (parameters.distributed.cube_threads)",
        ),
        (
            ["--distributed", "--workers", "2", "--remote", "127.0.0.1:1"],
            "prunecert: error: --workers: local solves only (with --remote the server's job "
            "cluster runs the cubes); drop it or --remote",
        ),
    ],
)
def test_bad_flags_are_usage_errors_naming_the_flag(problem_file, flags, line):
    proc = cli("solve", problem_file, *flags)
    assert (proc.returncode, proc.stdout, proc.stderr) == (EXIT_USAGE, "", line + "\n")


def test_an_unreachable_scheduler_is_named_by_its_flag(problem_file):
    proc = cli("solve", problem_file, "--distributed", "--dask-scheduler", "tcp://127.0.0.1:1")
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert proc.stderr.startswith(
        "prunecert: error: --dask-scheduler: the Dask scheduler at tcp://127.0.0.1:1 cannot be "
        "reached"
    )
    assert "Traceback" not in proc.stderr


def test_the_readme_block_runs_as_written(tmp_path):
    proc = run_block(shell_block("### One hard instance on many workers"), tmp_path)
    assert proc.returncode in (0, 3), proc.stderr  # OPTIMAL, or FEASIBLE on a slow machine
    assert "cubes: " in proc.stdout and "rule magnitude" in proc.stdout
