"""`prunecert solve --log-solver` (issue 13, item 5): the backend's own search log on stderr for
local solves, stdout unchanged, nothing of it without the flag, and a usage error with --remote.
The CLI runs as a subprocess, so that what reaches the process's stdout and stderr (file
descriptors, not only Python's streams) is what is checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from solver.core.problem import MinError, PruningMode
from solver.instances.generate import paper_problem
from solver.io import convert
from tests.support.servers import cli

# A line each backend's own log prints on every solve (and PruneCert never prints).
LOG_LINES = {
    "cpsat": "Starting CP-SAT solver",
    "highs": "MIP has ",
    "scip": "presolving:",
}


@pytest.fixture(scope="module")
def problem_file(tmp_path_factory) -> str:
    problem = paper_problem(2, 8, 1, PruningMode.NEURONS, MinError(), points_per_axis=9)
    path = Path(tmp_path_factory.mktemp("log")) / "p.json"
    path.write_text(convert.to_json(convert.problem_to_proto(problem)))
    return str(path)


def figures(stdout: str) -> dict:
    """The result's figures that do not depend on timing."""
    result = json.loads(stdout)
    result.pop("stats")
    return result


@pytest.mark.parametrize("backend", sorted(LOG_LINES))
def test_log_goes_to_stderr_and_stdout_is_unchanged(problem_file, backend):
    flags = ["solve", problem_file, "--json", "--backend", backend, "--progress-every", "0"]
    logged = cli(*flags, "--log-solver")
    plain = cli(*flags)
    assert logged.returncode == plain.returncode == 0, logged.stderr + plain.stderr
    assert LOG_LINES[backend] in logged.stderr
    assert LOG_LINES[backend] not in plain.stderr
    assert plain.stderr == ""
    # The log never reaches stdout: it is the same result, as JSON.
    assert LOG_LINES[backend] not in logged.stdout
    assert figures(logged.stdout) == figures(plain.stdout)


def test_log_solver_is_local_only(problem_file):
    done = cli("solve", problem_file, "--log-solver", "--remote", "127.0.0.1:1")
    assert done.returncode == 2
    assert done.stderr.startswith("prunecert: error: --log-solver: local solves only")
    assert "Traceback" not in done.stderr
