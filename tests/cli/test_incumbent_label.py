"""Stream incumbents are the solver's estimates (issue 13, item 9): with row generation an
incumbent's error is measured on the active points only, so it can be below the final certified
error. The CLI's live line shows every incumbent as the solver's figure (``~E (solver, ...)``)
and the result printed at the end carries the certified error. The CLI's own remote path
(solver.cli.solve.solve_remote) against a real server; a clock that moves a second per reading
makes the live line write every update, so no event goes unseen."""

from __future__ import annotations

import io
import re

import pytest

from solver.cli.app import build_parser
from solver.cli.progress import LiveLine
from solver.cli.solve import solve_remote
from solver.core.parameters import SolveParameters
from solver.core.problem import MinError, PruningMode
from solver.instances.generate import paper_problem
from solver.io import convert
from solver.io.report import format_result
from solver.service.server import ServerConfig, create_server

pytestmark = pytest.mark.timeout(120)

# Weights pruning, n = 16, on an active set of points: one thread and a seed, so that the
# stream is the same every run; its incumbents include one well below the optimum (measured on
# fewer points than the certificate).
PROBLEM = paper_problem(2, 16, 1, PruningMode.WEIGHTS, MinError())
PARAMS = SolveParameters(row_generation=True, threads=1, seed=1)
INCUMBENT = re.compile(r"^incumbent (\S+)")
LABELLED = re.compile(r"^incumbent ~(\S+) \(solver, kept \d+\)  bound ")


class SteppingClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture(scope="module")
def server():
    running = create_server(ServerConfig(port=0, max_concurrent=1))
    try:
        yield running
    finally:
        running.stop(0)


def test_incumbents_below_the_certified_error_are_shown_as_the_solvers(server, tmp_path):
    problem_file = tmp_path / "p.json"
    problem_file.write_text(convert.to_json(convert.problem_to_proto(PROBLEM)))
    args = build_parser().parse_args(
        ["solve", str(problem_file), "--remote", f"127.0.0.1:{server.port}"]
    )
    out = io.StringIO()
    line = LiveLine(every=0.5, stream=out, tty=False, clock=SteppingClock())
    result = solve_remote(args, PROBLEM, PARAMS, line)
    assert result.status.name == "OPTIMAL"
    certified = result.solution.error
    shown = [m.group(1) for m in map(INCUMBENT.match, out.getvalue().splitlines()) if m]
    estimates = [float(m.group(1)) for m in map(LABELLED.match, out.getvalue().splitlines()) if m]
    # Every incumbent shown is labelled as the solver's ("-" before the first one).
    assert len(estimates) == len([s for s in shown if s != "-"]) > 0, out.getvalue()
    # The case the label is for: an estimate below the certified error of the final result.
    assert min(estimates) < certified, (estimates, certified)
    # The report at the end gives the certified error, marked exact.
    report = format_result(PROBLEM, result)
    assert f"error       {certified:.12g}   (on the grid points: exact, rounded up)" in report
